import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import Foundation

/// The identity service's settings, from `IDENTITY_*` environment variables (docs/configuration.md).
public struct IdentityConfiguration: Sendable, Equatable {
    /// `IDENTITY_DATABASE_PATH` (SQLite, default `data/identity.sqlite`) and `IDENTITY_DATABASE_URL` (PostgreSQL
    /// shared by replicas; set, it replaces SQLite).
    public var database = DatabaseSettings(path: "data/identity.sqlite")
    /// `IDENTITY_ISSUER` (default `authstack`).
    public var issuer = "authstack"
    /// `IDENTITY_AUDIENCES`: comma-separated `aud` of issued tokens (default `identity,notes`).
    public var audiences = ["identity", "notes"]
    /// `IDENTITY_AUDIENCE`: this service's own name, checked on its bearer endpoints (default `identity`).
    public var audience = "identity"
    /// `IDENTITY_ACCESS_TTL`: access token lifetime in seconds (default 900).
    public var accessTokenLifetime: Double = AccessTokenSigner.defaultTimeToLive
    /// `IDENTITY_LEEWAY`: clock leeway in seconds (default 30).
    public var leeway: Double = TokenVerificationPolicy.defaultLeeway
    /// `IDENTITY_REFRESH_IDLE`, `IDENTITY_REFRESH_ABSOLUTE`, `IDENTITY_REFRESH_GRACE` (seconds; 14 d, 30 d, 10 s).
    var refresh = RefreshSettings()
    /// `IDENTITY_COOKIE_SECURE`: `Secure` attribute on the refresh cookie (default true; false only for plain-HTTP local use).
    public var cookieSecure = true
    /// `IDENTITY_SCRYPT_LOG_N`, `IDENTITY_SCRYPT_R`, `IDENTITY_SCRYPT_P` (default OWASP: 17, 8, 1).
    public var scrypt = ScryptParameters.owasp
    /// `IDENTITY_HASH_CONCURRENCY`: password hashes run at once (default: the number of cores).
    public var hashConcurrency = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// `IDENTITY_HASH_QUEUE`: hashes that may wait for a slot before 503 (default 4 × concurrency).
    public var hashQueue = 4 * max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// `IDENTITY_LOGIN_FREE_FAILURES`, `IDENTITY_LOGIN_MAX_DELAY`, `IDENTITY_LOGIN_FAILURES_PER_IP`,
    /// `IDENTITY_LOGIN_IP_WINDOW`, `IDENTITY_SIGNUPS_PER_IP_PER_MINUTE`, `IDENTITY_REFRESHES_PER_IP_PER_MINUTE`.
    var throttle = ThrottleSettings()
    /// `IDENTITY_TRUSTED_PROXIES`: comma-separated addresses or CIDR blocks of proxies whose `X-Forwarded-For` is
    /// believed (default none: the peer address is the client).
    public var trustedProxies: [String] = []
    /// `IDENTITY_PROXY_SOCKET`: a Unix domain socket path on which identity also serves its API, for a proxy on the same
    /// machine (`authctl up`'s gateway). A request on it is from a trusted proxy: only a process that may open the
    /// file (keep it in a 0700 directory) can send one, which a loopback address cannot tell (default none).
    public var proxySocket: String?
    /// `IDENTITY_MAX_BODY_BYTES` (default 64 KiB).
    public var maximumBodyBytes = 64 * 1024
    /// The keyring follower (`IDENTITY_KEYS_URL`, `IDENTITY_KEYS_TOKEN_FILE`, `IDENTITY_KEYS_WAIT`).
    public var keys: KeyringFollowerConfiguration

    /// The longest session lifetime a setting may ask for: a year.
    static let longestLifetime: Double = 366 * 86_400

    /// The defaults.
    public init() {
        keys = KeyringFollowerConfiguration(keyServiceURL: "http://127.0.0.1:8083", tokenFile: "keys/identity.token")
    }

    /// Reads the `IDENTITY_*` variables from `environment` (docs/configuration.md gives the bounds).
    public init(environment: [String: String]) throws(InvalidSetting) {
        try self.init(reader: ConfigurationReader(environment))
    }

    /// Reads the same variables through `reader` (a recording one lists them for `--help`).
    public init(reader: ConfigurationReader) throws(InvalidSetting) {
        self.init()
        database = try DatabaseSettings(prefix: "IDENTITY", defaultPath: database.path, reader: reader)
        issuer = try reader.name("IDENTITY_ISSUER", default: issuer)
        audiences = try reader.list("IDENTITY_AUDIENCES", default: audiences)
        audience = try reader.name("IDENTITY_AUDIENCE", default: audience)
        accessTokenLifetime = try reader.seconds("IDENTITY_ACCESS_TTL", default: accessTokenLifetime, in: 1...86_400)
        leeway = try reader.seconds("IDENTITY_LEEWAY", default: leeway, in: TokenVerificationPolicy.leewayRange)
        refresh.idleLifetime = try reader.seconds("IDENTITY_REFRESH_IDLE", default: refresh.idleLifetime, in: 1...Self.longestLifetime)
        refresh.absoluteLifetime = try reader.seconds("IDENTITY_REFRESH_ABSOLUTE", default: refresh.absoluteLifetime, in: 1...Self.longestLifetime)
        refresh.graceWindow = try reader.seconds("IDENTITY_REFRESH_GRACE", default: refresh.graceWindow, in: 0...300)
        cookieSecure = try reader.bool("IDENTITY_COOKIE_SECURE", default: cookieSecure)
        scrypt = ScryptParameters(
            logN: UInt8(try reader.integer("IDENTITY_SCRYPT_LOG_N", default: Int(scrypt.logN), in: 1...20)),
            blockSize: try reader.integer("IDENTITY_SCRYPT_R", default: scrypt.blockSize, in: 1...64),
            parallelism: try reader.integer("IDENTITY_SCRYPT_P", default: scrypt.parallelism, in: 1...64)
        )
        guard scrypt.isAcceptable else {
            throw InvalidSetting(variable: "IDENTITY_SCRYPT_LOG_N", reason: "scrypt would need more than 512 MiB per hash")
        }
        hashConcurrency = try reader.integer("IDENTITY_HASH_CONCURRENCY", default: hashConcurrency, in: 1...256)
        hashQueue = try reader.integer("IDENTITY_HASH_QUEUE", default: 4 * hashConcurrency, in: 0...100_000)
        throttle.accountFreeFailures = try reader.integer("IDENTITY_LOGIN_FREE_FAILURES", default: throttle.accountFreeFailures, in: 1...1_000)
        throttle.accountMaximumDelay = try reader.seconds("IDENTITY_LOGIN_MAX_DELAY", default: throttle.accountMaximumDelay, in: 1...86_400)
        throttle.loginFailuresPerAddress = try reader.integer(
            "IDENTITY_LOGIN_FAILURES_PER_IP",
            default: throttle.loginFailuresPerAddress,
            in: 1...10_000_000
        )
        throttle.loginAddressWindow = try reader.seconds("IDENTITY_LOGIN_IP_WINDOW", default: throttle.loginAddressWindow, in: 1...86_400)
        throttle.signupsPerAddressPerMinute = try reader.integer(
            "IDENTITY_SIGNUPS_PER_IP_PER_MINUTE",
            default: throttle.signupsPerAddressPerMinute,
            in: 1...10_000_000
        )
        throttle.refreshesPerAddressPerMinute = try reader.integer(
            "IDENTITY_REFRESHES_PER_IP_PER_MINUTE",
            default: throttle.refreshesPerAddressPerMinute,
            in: 1...10_000_000
        )
        trustedProxies = try reader.list("IDENTITY_TRUSTED_PROXIES", default: [], accepted: "IP addresses or CIDR blocks, comma-separated")
        for proxy in trustedProxies where AddressBlock(proxy) == nil {
            throw InvalidSetting(variable: "IDENTITY_TRUSTED_PROXIES", reason: "\(proxy) is not an IP address or CIDR block")
        }
        proxySocket = reader.optional("IDENTITY_PROXY_SOCKET", accepted: "a Unix domain socket path")
        if let proxySocket, proxySocket.utf8.count > 100 {
            throw InvalidSetting(variable: "IDENTITY_PROXY_SOCKET", reason: "a Unix domain socket path must be at most 100 bytes")
        }
        maximumBodyBytes = try reader.integer("IDENTITY_MAX_BODY_BYTES", default: maximumBodyBytes, in: 1_024...(16 << 20))
        keys = try KeyringFollowerConfiguration(prefix: "IDENTITY", client: "identity", reader: reader)
    }
}
