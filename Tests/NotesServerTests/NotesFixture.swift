import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@testable import NotesServer

/// A notes service on a temporary database, with a keyring, a token minter and a clock the test moves.
struct NotesFixture {
    /// 2027-01-15T08:00:00Z.
    static let start = Date(timeIntervalSince1970: 1_800_000_000)
    static let startTimestamp = "2027-01-15T08:00:00.000000Z"

    let clock = TestClock(start)
    var configuration = NotesServiceConfiguration()
    /// `k-current` signs, `k-next` is published; what a freshly started key service holds.
    let keyring = NotesFixture.keyring(version: 1, [("k-current", .current), ("k-next", .next)])

    init() {
        configuration.database.path = NSTemporaryDirectory() + "notes-service-\(UUID().uuidString)/data/notes.sqlite"
    }

    /// The same fixture with a changed configuration.
    func configured(_ change: (inout NotesServiceConfiguration) -> Void) -> NotesFixture {
        var copy = self
        change(&copy.configuration)
        return copy
    }

    /// The same fixture on a test database of either kind.
    func on(_ database: TestDatabase) -> NotesFixture {
        configured {
            $0.database.path = database.notesConfiguration.database.path
            $0.database.url = database.notesConfiguration.database.url
            $0.database.acquireTimeout = TestDatabase.acquireTimeout
        }
    }

    /// A key whose secret is derived from its kid, so the same kid always has the same secret.
    static func key(_ kid: String, _ status: KeyStatus) -> KeyringKey {
        let seed = kid.utf8.reduce(UInt8(7)) { $0 &* 31 &+ $1 }
        return KeyringKey(kid: kid, secret: SecretBytes((0..<32).map { seed &+ UInt8($0) }), status: status, createdAt: start)
    }

    static func keyring(version: Int, _ keys: [(String, KeyStatus)]) -> Keyring {
        try! Keyring(version: version, keys: keys.map { key($0.0, $0.1) })
    }

    /// The application with the fixture's keyring.
    func application() async throws -> some ApplicationProtocol {
        try await application(source: FixedKeyringSource(keyring))
    }

    /// The application reading keys from `source`.
    func application(source: some KeyringSource) async throws -> some ApplicationProtocol {
        let clock = self.clock
        return try await buildNotesApplication(
            settings: ServiceSettings(host: "127.0.0.1", port: 0),
            configuration: configuration,
            runtime: ServiceRuntime(name: "notes"),
            keyring: source,
            now: { clock.now }
        )
    }

    // MARK: Tokens

    /// An access token for `subject` as identity would sign it now, with the key `kid` (a keyring key by default).
    func token(
        for subject: String = "user-alice",
        kid: String = "k-current",
        audience: [String] = ["identity", "notes"],
        issuer: String = "authstack",
        issuedAt: Date? = nil
    ) -> String {
        let signer = AccessTokenSigner(issuer: issuer, audience: audience)
        let claims = signer.claims(subject: subject, username: subject, sessionID: "session-1", now: issuedAt ?? clock.now)
        return signer.sign(claims, with: try! HS256Key(kid: kid, secret: Self.key(kid, .current).secret))
    }

    /// A token with a header and payload of the test's choosing, MACed with the key `kid`.
    func craftedToken(header: String, payload: String, kid: String = "k-current") -> String {
        let signingInput = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        let key = try! HS256Key(kid: kid, secret: Self.key(kid, .current).secret)
        let mac = Array(signingInput.utf8).withUnsafeBytes { key.authenticationCode(for: $0) }
        return signingInput + "." + Base64URL.encode(mac)
    }

    /// Claims that pass every check now, as JSON.
    func validPayload(subject: String = "user-alice") -> String {
        let now = Int(clock.now.timeIntervalSince1970)
        return #"{"iss":"authstack","aud":["notes"],"sub":"\#(subject)","iat":\#(now),"exp":\#(now + 900)}"#
    }
}

/// Requests and answers of the notes API, for a test client.
enum NotesHTTP {
    static func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    static func jsonHeaders(_ token: String) -> HTTPFields {
        [.authorization: "Bearer \(token)", .contentType: "application/json"]
    }

    static func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    /// A JSON object body from a dictionary (Foundation escapes whatever the test puts in).
    static func body(_ object: [String: Any]) -> ByteBuffer {
        ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: object))
    }

    static func object(_ response: TestResponse) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView), options: [.fragmentsAllowed])
        return try #require(value as? [String: Any], "expected a JSON object: \(String(buffer: response.body))")
    }

    /// The `code` of a problem response, after checking it is one.
    static func problemCode(_ response: TestResponse) throws -> String? {
        #expect(response.headers[.contentType] == "application/problem+json")
        return try object(response)["code"] as? String
    }

    /// The `field` of each entry of a problem's `errors`.
    static func errorFields(_ response: TestResponse) throws -> [String] {
        let errors = try #require(try object(response)["errors"] as? [[String: Any]], "expected an errors array")
        return errors.compactMap { $0["field"] as? String }
    }

    /// Creates a note and returns its JSON.
    @discardableResult
    static func create(
        _ client: some TestClientProtocol,
        token: String,
        title: String,
        body: String? = nil
    ) async throws -> [String: Any] {
        var fields: [String: Any] = ["title": title]
        if let body { fields["body"] = body }
        let response = try await client.execute(uri: "/notes", method: .post, headers: jsonHeaders(token), body: Self.body(fields))
        #expect(response.status == .created, "\(String(buffer: response.body))")
        return try object(response)
    }

    /// Every note of the token's owner, page by page, with `limit` per page; fails the test on a non-200 answer.
    static func listAll(_ client: some TestClientProtocol, token: String, limit: Int) async throws -> [[String: Any]] {
        var notes: [[String: Any]] = []
        var cursor: String?
        repeat {
            let uri = "/notes?limit=\(limit)" + (cursor.map { "&cursor=\($0)" } ?? "")
            let page = try object(try await client.execute(uri: uri, method: .get, headers: bearer(token)))
            notes += try #require(page["notes"] as? [[String: Any]])
            cursor = page["next_cursor"] as? String
        } while cursor != nil
        return notes
    }
}

/// A keyring source a test controls: it swaps keyrings at will and, when a token names an unknown kid, installs the
/// keyring prepared for that and counts how often it was asked.
final class ControlledKeyringSource: KeyringSource {
    private let cell = SnapshotCell<KeyringSnapshot>()
    private let onRefresh = Mutex<Keyring?>(nil)
    private let refreshCount = Atomic<Int>(0)

    init(_ keyring: Keyring?) {
        if let keyring { install(keyring) }
    }

    /// Replaces the held keyring.
    func install(_ keyring: Keyring) { cell.store(KeyringSnapshot(keyring: keyring, receivedAt: Date())) }

    /// The keyring the next unknown-kid refresh will find at the key service.
    func prepareRefresh(_ keyring: Keyring) { onRefresh.withLock { $0 = keyring } }

    /// How many unknown-kid refreshes were asked for.
    var refreshes: Int { refreshCount.load(ordering: .relaxed) }

    func current() -> KeyringSnapshot? { cell.load() }

    func refreshForUnknownKeyID() async -> KeyringSnapshot? {
        refreshCount.add(1, ordering: .relaxed)
        let next = onRefresh.withLock { prepared -> Keyring? in
            defer { prepared = nil }
            return prepared
        }
        if let next { install(next) }
        return cell.load()
    }
}
