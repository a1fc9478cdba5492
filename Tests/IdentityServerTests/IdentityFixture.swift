import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import IdentityServer

/// An identity service on a temporary SQLite database, a fixed keyring, cheap scrypt and a clock the test moves.
struct IdentityFixture {
    var configuration: IdentityConfiguration
    let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
    var keyring: Keyring?
    let passwords: PasswordHashingPool

    init(keyring present: Bool = true, _ adjust: (inout IdentityConfiguration) -> Void = { _ in }) throws {
        let directory = NSTemporaryDirectory() + "identity-\(UUID().uuidString)"
        var configuration = IdentityConfiguration()
        configuration.database.path = directory + "/identity.sqlite"
        configuration.scrypt = ScryptParameters(logN: 8, blockSize: 8, parallelism: 1)
        configuration.cookieSecure = true
        adjust(&configuration)
        self.configuration = configuration
        keyring = present ? try Self.makeKeyring(at: Date(timeIntervalSince1970: 1_800_000_000)) : nil
        passwords = PasswordHashingPool(
            hasher: try PasswordHasher(parameters: configuration.scrypt),
            maximumConcurrent: configuration.hashConcurrency,
            maximumQueued: configuration.hashQueue
        )
    }

    /// The same fixture on a test database of either kind.
    func on(_ database: TestDatabase) -> IdentityFixture {
        var copy = self
        copy.configuration.database.path = database.directory + "/identity.sqlite"
        copy.configuration.database.url = database.url
        copy.configuration.database.acquireTimeout = TestDatabase.acquireTimeout
        return copy
    }

    /// An access token as this identity service would sign it now, for any subject (one no signup could produce).
    func accessToken(subject: String, sessionID: String = "s_test") throws -> String {
        let signer = AccessTokenSigner(issuer: configuration.issuer, audience: configuration.audiences)
        let claims = signer.claims(subject: subject, username: "someone", sessionID: sessionID, now: clock.now)
        return signer.sign(claims, with: try #require(keyring?.signingKey))
    }

    static func makeKeyring(at now: Date) throws -> Keyring {
        try Keyring(
            version: 1,
            keys: [
                KeyringKey(kid: "k-current", secret: SecretBytes.random(count: 32), status: .current, createdAt: now, activatedAt: now),
                KeyringKey(kid: "k-next", secret: SecretBytes.random(count: 32), status: .next, createdAt: now),
            ]
        )
    }

    func application(settings: ServiceSettings = ServiceSettings(host: "127.0.0.1", port: 0)) async throws -> some ApplicationProtocol {
        let clock = self.clock
        return try await buildIdentityApplication(
            settings: settings,
            configuration: configuration,
            runtime: ServiceRuntime(name: "identity"),
            keyring: FixedKeyringSource(keyring, receivedAt: clock.now),
            passwords: passwords,
            clock: { clock.now }
        )
    }

    /// Verifies an issued access token as the notes service would (audience `notes`) at the fixture's time.
    func verify(_ accessToken: String, audience: String = "notes") throws -> AccessTokenClaims {
        let verifier = AccessTokenVerifier(policy: TokenVerificationPolicy(issuer: "authstack", audience: audience))
        return try verifier.verify(accessToken, keys: try #require(keyring).verificationKeys, now: clock.now)
    }
}

/// JSON helpers for identity responses.
enum IdentityJSON {
    static func body(_ object: [String: Any]) -> ByteBuffer {
        ByteBuffer(bytes: Array(try! JSONSerialization.data(withJSONObject: object)))
    }

    static func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    static let jsonHeaders: HTTPFields = [.contentType: "application/json"]

    static func credentials(_ username: String, _ password: String = "correct horse battery") -> ByteBuffer {
        body(["username": username, "password": password])
    }

    /// The fields named in a problem's `errors`.
    static func errorFields(_ response: TestResponse) throws -> Set<String> {
        let errors = try #require(try object(response)["errors"] as? [[String: String]])
        return Set(errors.compactMap { $0["field"] })
    }
}

/// A token response, checked for shape on the way in.
struct IssuedTokens {
    let accessToken: String
    let refreshToken: String
    let refreshExpiresIn: Int
    let setCookie: String?

    init(_ response: TestResponse) throws {
        let object = try IdentityJSON.object(response)
        accessToken = try #require(object["access_token"] as? String)
        refreshToken = try #require(object["refresh_token"] as? String)
        refreshExpiresIn = try #require(object["refresh_expires_in"] as? Int)
        #expect(object["token_type"] as? String == "Bearer")
        #expect(object["expires_in"] as? Int == 900)
        #expect(response.headers[.cacheControl] == "no-store")
        setCookie = response.headers[.setCookie]
    }

    var bearer: HTTPFields { [.authorization: "Bearer \(accessToken)"] }
}

extension TestClientProtocol {
    func signup(_ username: String, _ password: String = "correct horse battery") async throws -> IssuedTokens {
        try await execute(uri: "/signup", method: .post, headers: IdentityJSON.jsonHeaders, body: IdentityJSON.credentials(username, password)) {
            #expect($0.status == .created, "signup of \(username)")
            return try IssuedTokens($0)
        }
    }

    func login(_ username: String, _ password: String = "correct horse battery") async throws -> TestResponse {
        try await execute(uri: "/login", method: .post, headers: IdentityJSON.jsonHeaders, body: IdentityJSON.credentials(username, password)) { $0 }
    }

    func refresh(_ token: String) async throws -> TestResponse {
        try await execute(uri: "/refresh", method: .post, headers: IdentityJSON.jsonHeaders, body: IdentityJSON.body(["refresh_token": token])) { $0 }
    }
}
