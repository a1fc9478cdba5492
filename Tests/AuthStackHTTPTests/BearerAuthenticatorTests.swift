import AuthStackCore
import Foundation
import Synchronization
import Testing

@testable import AuthStackHTTP
@testable import AuthStackVerifier

/// A keyring source that starts with one keyring and, when asked to refresh, moves to another.
final class RefreshingKeyringSource: KeyringSource {
    private let held: SnapshotCell<KeyringSnapshot>
    private let next: KeyringSnapshot?
    private let refreshes = Atomic<Int>(0)

    init(_ initial: Keyring?, then next: Keyring? = nil) {
        held = SnapshotCell(initial.map { KeyringSnapshot(keyring: $0, receivedAt: Date()) })
        self.next = next.map { KeyringSnapshot(keyring: $0, receivedAt: Date()) }
    }

    var refreshCount: Int { refreshes.load(ordering: .relaxed) }

    func current() -> KeyringSnapshot? { held.load() }

    func refreshForUnknownKeyID() async -> KeyringSnapshot? {
        refreshes.add(1, ordering: .relaxed)
        if let next { held.store(next) }
        return held.load()
    }
}

/// RFC 6750 bearer authentication over the shared verifier (docs/design.md §2, §5 "Bearer failures").
@Suite struct BearerAuthenticatorTests {
    static let now: Double = 1_800_000_000
    static let signer = AccessTokenSigner()

    static func key(_ kid: String) -> KeyringKey {
        KeyringKey(
            kid: kid,
            secret: SecretBytes.random(count: 32),
            status: .current,
            createdAt: Date(timeIntervalSince1970: now - 100),
            activatedAt: Date(timeIntervalSince1970: now - 100)
        )
    }

    static func keyring(version: Int, current: KeyringKey, others: [KeyringKey] = []) throws -> Keyring {
        var next = key("next-\(version)")
        next.status = .next
        next.activatedAt = nil
        return try Keyring(
            version: version,
            keys: [current, next]
                + others.map {
                    var key = $0
                    key.status = .previous
                    return key
                }
        )
    }

    static func token(_ key: KeyringKey, at time: Double = now) throws -> String {
        signer.sign(
            signer.claims(subject: "user-1", username: "ada", sessionID: "s-1", now: Date(timeIntervalSince1970: time)),
            with: try HS256Key(kid: key.kid, secret: key.secret)
        )
    }

    func authenticator<Source: KeyringSource>(_ source: Source) -> BearerAuthenticator<Source> {
        BearerAuthenticator(realm: "notes", policy: TokenVerificationPolicy(issuer: "authstack", audience: "notes"), keyring: source) {
            Self.now
        }
    }

    func problem<Source: KeyringSource>(_ authenticator: BearerAuthenticator<Source>, _ header: String?) async -> ProblemDetails? {
        do {
            _ = try await authenticator.authenticate(authorization: header)
            return nil
        } catch {
            return error
        }
    }

    @Test func acceptsAValidTokenWithAnySchemeCase() async throws {
        let current = Self.key("k1")
        let auth = authenticator(FixedKeyringSource(try Self.keyring(version: 1, current: current)))
        let token = try Self.token(current)
        for scheme in ["Bearer", "bearer", "BEARER", "Bearer  "] {
            let claims = try await auth.authenticate(authorization: "\(scheme) \(token)")
            #expect(claims.subject == "user-1")
            #expect(claims.sessionID == "s-1")
        }
    }

    @Test func missingCredentialsAreMissingTokenWithoutAnErrorAttribute() async throws {
        let auth = authenticator(FixedKeyringSource(try Self.keyring(version: 1, current: Self.key("k1"))))
        for header in [nil, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearerx.y.z", "Token abc"] as [String?] {
            let problem = try #require(await problem(auth, header), "\(header ?? "nil")")
            #expect(problem.code == .missingToken)
            #expect(problem.status == 401)
            #expect(problem.wwwAuthenticate == #"Bearer realm="notes""#)
        }
    }

    @Test func everyFailedCheckIsTheSameInvalidTokenAnswer() async throws {
        let current = Self.key("k1")
        let auth = authenticator(FixedKeyringSource(try Self.keyring(version: 1, current: current)))
        let good = try Self.token(current)
        let forged = try Self.token(Self.key("k1"))  // same kid, other secret
        let wrongAudience = Self.signer.sign(
            AccessTokenClaims(
                issuer: "authstack",
                audience: ["identity"],
                subject: "u",
                username: nil,
                sessionID: nil,
                tokenID: nil,
                issuedAt: Self.now,
                expiresAt: Self.now + 60,
                notBefore: nil
            ),
            with: try HS256Key(kid: current.kid, secret: current.secret)
        )
        var details: Set<String> = []
        for token in ["abc", good + "x", forged, wrongAudience, String(good.dropLast()), good.replacingOccurrences(of: ".", with: " ")] {
            let problem = try #require(await problem(auth, "Bearer \(token)"))
            #expect(problem.code == .invalidToken)
            #expect(problem.wwwAuthenticate == #"Bearer realm="notes", error="invalid_token""#)
            details.insert(problem.detail)
        }
        #expect(details.count == 1, "the detail must not say which check failed")
    }

    @Test func anExpiredButOtherwiseValidTokenIsTokenExpired() async throws {
        let current = Self.key("k1")
        let auth = authenticator(FixedKeyringSource(try Self.keyring(version: 1, current: current)))
        let expired = try Self.token(current, at: Self.now - AccessTokenSigner.defaultTimeToLive - 31)
        let problem = try #require(await problem(auth, "Bearer \(expired)"))
        #expect(problem.code == .tokenExpired)
        #expect(problem.wwwAuthenticate == #"Bearer realm="notes", error="invalid_token""#)
        // Inside the 30 s leeway it still verifies.
        let justExpired = try Self.token(current, at: Self.now - AccessTokenSigner.defaultTimeToLive - 29)
        #expect(try await auth.authenticate(authorization: "Bearer \(justExpired)").subject == "user-1")
    }

    @Test func anUnknownKidRefreshesOnceThenVerifiesAgainstTheNewKeyring() async throws {
        let old = Self.key("k1")
        let new = Self.key("k2")
        let source = RefreshingKeyringSource(
            try Self.keyring(version: 1, current: old),
            then: try Self.keyring(version: 2, current: new, others: [old])
        )
        let auth = authenticator(source)
        #expect(try await auth.authenticate(authorization: "Bearer \(try Self.token(old))").subject == "user-1")
        #expect(source.refreshCount == 0, "a held kid needs no refresh")
        #expect(try await auth.authenticate(authorization: "Bearer \(try Self.token(new))").subject == "user-1")
        #expect(source.refreshCount == 1)
        #expect(try await auth.authenticate(authorization: "Bearer \(try Self.token(new))").subject == "user-1")
        #expect(source.refreshCount == 1, "once held, the new kid needs no further refresh")
    }

    @Test func aKidThatStaysUnknownAfterTheRefreshIsInvalid() async throws {
        let held = Self.key("k1")
        let source = RefreshingKeyringSource(try Self.keyring(version: 1, current: held))
        let problem = try #require(await problem(authenticator(source), "Bearer \(try Self.token(Self.key("forged")))"))
        #expect(problem.code == .invalidToken)
        #expect(source.refreshCount == 1)
    }

    @Test func noKeyringYetIsServiceUnavailableNotUnauthorized() async throws {
        let problem = try #require(await problem(authenticator(FixedKeyringSource(nil)), "Bearer a.b.c"))
        #expect(problem.code == .serviceUnavailable)
        #expect(problem.status == 503)
        #expect(problem.retryAfter == 1)
    }

    @Test func bearerTokenParsing() {
        #expect(BearerCredentials.token(in: "Bearer abc") == "abc")
        #expect(BearerCredentials.token(in: "bEaReR    abc") == "abc")
        #expect(BearerCredentials.token(in: "Bearer a b") == "a b")
        #expect(BearerCredentials.token(in: "Bearer\tabc") == nil)
        #expect(BearerCredentials.token(in: "Bearé abc") == nil)
        #expect(BearerCredentials.token(in: "Beare") == nil)
    }
}

/// The keyring cell every request reads.
@Suite struct SnapshotCellTests {
    final class Box: Sendable {
        let value: Int
        init(_ value: Int) { self.value = value }
    }

    @Test func startsEmptyOrWithItsValueAndReturnsTheLatestStore() {
        #expect(SnapshotCell<Box>().load() == nil)
        let cell = SnapshotCell(Box(1))
        #expect(cell.load()?.value == 1)
        cell.store(Box(2))
        #expect(cell.load()?.value == 2)
        cell.store(nil)
        #expect(cell.load() == nil)
    }

    @Test func readersOnManyThreadsNeverGoBackwardsAndSeeTheLastStore() async {
        let cell = SnapshotCell(Box(0))
        let stores = 2_000
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var last = 0
                    while last < stores {
                        guard let value = cell.load()?.value, value >= last else { return false }
                        last = value
                        await Task.yield()
                    }
                    return true
                }
            }
            group.addTask {
                for value in 1...stores {
                    cell.store(Box(value))
                    if value % 100 == 0 { await Task.yield() }
                }
                return true
            }
            for await monotonic in group { #expect(monotonic) }
        }
        #expect(cell.load()?.value == stores)
    }
}

/// `<PREFIX>_KEYS_*` settings and the retry schedule.
@Suite struct KeyringFollowerConfigurationTests {
    @Test func defaultsPointAtTheLocalKeyService() throws {
        let configuration = try KeyringFollowerConfiguration(prefix: "NOTES", client: "notes", reader: ConfigurationReader([:]))
        #expect(configuration.keyServiceURL == "http://127.0.0.1:8083")
        #expect(configuration.tokenFile == "keys/notes.token")
        #expect(configuration.longPollWait == 30)
    }

    @Test func readsItsVariables() throws {
        let configuration = try KeyringFollowerConfiguration(
            prefix: "IDENTITY",
            client: "identity",
            reader: ConfigurationReader([
                "IDENTITY_KEYS_URL": "http://keys:8083/", "IDENTITY_KEYS_TOKEN_FILE": "/run/secrets/identity.token", "IDENTITY_KEYS_WAIT": "60",
            ])
        )
        #expect(configuration.keyServiceURL == "http://keys:8083")
        #expect(configuration.tokenFile == "/run/secrets/identity.token")
        #expect(configuration.longPollWait == 60)
    }

    @Test func rejectsBadValuesNamingTheVariable() {
        for (name, value) in [
            ("NOTES_KEYS_URL", "keys:8083"), ("NOTES_KEYS_URL", "ftp://keys"), ("NOTES_KEYS_URL", "http://keys/?a=1"),
            ("NOTES_KEYS_WAIT", "0"), ("NOTES_KEYS_WAIT", "61"), ("NOTES_KEYS_WAIT", "ten"), ("NOTES_KEYS_URL", ""),
            ("NOTES_KEYS_TOKEN_FILE", ""),
        ] {
            #expect(throws: InvalidSetting.self, "\(name)=\(value)") {
                try KeyringFollowerConfiguration(prefix: "NOTES", client: "notes", reader: ConfigurationReader([name: value]))
            }
            do {
                _ = try KeyringFollowerConfiguration(prefix: "NOTES", client: "notes", reader: ConfigurationReader([name: value]))
            } catch {
                #expect(error.variable == name)
            }
        }
    }

    @Test func backoffIsJitteredAndCapped() {
        var configuration = KeyringFollowerConfiguration(keyServiceURL: "http://127.0.0.1:1", tokenFile: "t")
        configuration.initialBackoff = 0.1
        configuration.maximumBackoff = 2
        for attempt in 1...100 {
            let delay = KeyringFollower.backoff(attempt: attempt, configuration: configuration)
            #expect(delay >= 0 && delay <= min(2, 0.1 * pow(2, Double(attempt - 1))))
        }
        let late = (0..<200).map { _ in KeyringFollower.backoff(attempt: 10, configuration: configuration) }
        #expect(Set(late).count > 100, "delays must be jittered, not fixed")
        #expect(late.contains { $0 > 1 }, "late attempts reach the cap's range")
    }
}
