import AuthStackCore
import AuthStackHTTP
import AuthStackStorage

/// The key service's settings beyond host and port, from `KEYS_*` environment variables (docs/configuration.md).
public struct KeyServiceConfiguration: Sendable, Equatable {
    /// `KEYS_DATABASE_PATH` (SQLite, default `data/keys.sqlite`) and `KEYS_DATABASE_URL` (PostgreSQL shared by
    /// replicas; set, it replaces SQLite).
    public var database = DatabaseSettings(path: "data/keys.sqlite")
    /// Directory with `master.key` and the client tokens (`KEYS_SECRETS_DIR`, default `keys`).
    public var secretsDirectory = "keys"
    /// Lifecycle timings (`KEYS_ROTATION_INTERVAL`, `KEYS_PUBLISH_LEAD`, `KEYS_RETENTION`, in seconds).
    public var lifecycle = KeyLifecyclePolicy.Configuration()
    /// How often the scheduler checks (`KEYS_CHECK_INTERVAL`, seconds, default 10).
    public var checkInterval: Double = 10
    /// What keys made from now on sign with (`KEYS_ALGORITHM`, `HS256` or `EdDSA`, default `HS256`); each existing
    /// key keeps its own, so a change takes effect through rotation and rejects no valid token.
    public var algorithm = KeyAlgorithm.hs256

    /// The defaults.
    public init() {}

    /// Reads the `KEYS_*` variables from `environment` (docs/configuration.md gives the bounds).
    public init(environment: [String: String]) throws(InvalidSetting) {
        try self.init(reader: ConfigurationReader(environment))
    }

    /// Reads the same variables through `reader` (a recording one lists them for `--help`).
    public init(reader: ConfigurationReader) throws(InvalidSetting) {
        database = try DatabaseSettings(prefix: "KEYS", defaultPath: database.path, reader: reader)
        secretsDirectory = try reader.path("KEYS_SECRETS_DIR", default: secretsDirectory)
        lifecycle.rotationInterval = try reader.seconds("KEYS_ROTATION_INTERVAL", default: lifecycle.rotationInterval, in: 1...Self.longestPeriod)
        lifecycle.publishLead = try reader.seconds("KEYS_PUBLISH_LEAD", default: lifecycle.publishLead, in: 1...Self.longestPeriod)
        lifecycle.retention = try reader.seconds("KEYS_RETENTION", default: lifecycle.retention, in: 1...Self.longestPeriod)
        checkInterval = try reader.seconds("KEYS_CHECK_INTERVAL", default: checkInterval, in: 0.01...3_600)
        algorithm = try reader.choice("KEYS_ALGORITHM", default: algorithm)
    }

    /// The longest rotation interval, publish lead or retention a setting may ask for: a year.
    static let longestPeriod: Double = 366 * 86_400
}
