import AuthStackCore
import Crypto
import Foundation

/// What a key-service client may do (docs/design.md §5).
public enum ClientRole: String, Sendable, CaseIterable, Codable {
    /// Reads the keyring (notes, and the deployment's own services).
    case verifier
    /// Reads the keyring and signs with it (identity).
    case signer
    /// Everything, including rotation, revocation and the clients themselves (authctl).
    case admin
}

/// A key-service client as stored: known only by the SHA-256 of its token (tokens are 256-bit random values, so a
/// plain SHA-256 is a sufficient one-way store). A revoked client stays as a tombstone: a revocation is never undone
/// by the key service reading `keys/<name>.token` again at its next start.
struct ClientRecord: Sendable, Equatable {
    let name: String
    var role: ClientRole
    var tokenHash: [UInt8]
    /// The token before the latest rotation, accepted until ``previousValidUntil``.
    var previousTokenHash: [UInt8]?
    var previousValidUntil: Date?
    var createdAt: Date
    var rotatedAt: Date?
    var lastSeenAt: Date?
    var revokedAt: Date?

    var isActive: Bool { revokedAt == nil }

    /// Whether `hash` is this client's token at `now` (its previous one during the rotation overlap). Both
    /// comparisons always run, in constant time.
    func accepts(_ hash: [UInt8], at now: Date) -> Bool {
        guard isActive else { return false }
        let current = ConstantTime.equals(tokenHash, hash)
        var previous = false
        if let previousTokenHash {
            previous = ConstantTime.equals(previousTokenHash, hash) && (previousValidUntil.map { now < $0 } ?? false)
        }
        return current || previous
    }

    /// The SHA-256 of a presented token.
    static func hash(_ token: String) -> [UInt8] { Array(SHA256.hash(data: Array(token.utf8))) }

    /// A new client token: `ast_` and 256 random bits in base64url, as `authctl init` writes them.
    static func newToken() -> String { "ast_" + Base64URL.encode(SecretBytes.random(count: 32).bytes) }
}

/// Every client and the version of that set (bumped by each add, rotation and revocation; not by "last seen").
struct ClientSnapshot: Sendable, Equatable {
    var version: Int
    var clients: [ClientRecord]

    /// Whether some client's token, at `now`, has this hash.
    func accepts(_ hash: [UInt8], at now: Date) -> Bool { clients.contains { $0.accepts(hash, at: now) } }
}

/// Why a client operation was refused.
enum ClientError: Error, Equatable {
    /// The name breaks ``ClientPolicy/nameRule``.
    case invalidName
    /// An active client has this name.
    case exists
    /// No active client has this name.
    case notFound
    /// ``ClientPolicy/maximumClients`` active clients exist.
    case limitReached
    /// Revoking it would leave no admin able to call the key service.
    case lastAdmin
}

/// The rules of the client set (docs/design.md §5.4), as pure functions from the stored clients to the records to
/// write: the stores apply them in one transaction, so two replicas adding the same name cannot both succeed.
public enum ClientPolicy {
    /// At most this many active clients.
    public static let maximumClients = 1_000
    /// The longest rotation overlap: 30 days.
    public static let maximumOverlap: TimeInterval = 30 * 86_400
    /// A name: 1–40 characters, lower-case ASCII letters, digits, `-` and `_`, starting with a letter.
    public static let nameRule = "1–40 characters of a–z, 0–9, '-' and '_', starting with a letter"

    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...40).contains(bytes.count), let first = bytes.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else {
            return false
        }
        return bytes.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
        }
    }

    /// A new client `name` with `role` and the token whose hash is `tokenHash`; replaces a revoked client's tombstone.
    static func add(
        name: String,
        role: ClientRole,
        tokenHash: [UInt8],
        to clients: [ClientRecord],
        now: Date
    ) throws(ClientError)
        -> ClientRecord
    {
        guard isValidName(name) else { throw .invalidName }
        guard !clients.contains(where: { $0.name == name && $0.isActive }) else { throw .exists }
        guard clients.count(where: \.isActive) < maximumClients else { throw .limitReached }
        return ClientRecord(name: name, role: role, tokenHash: tokenHash, createdAt: now)
    }

    /// The active client called `name`; a revoked one is a tombstone, not a client.
    static func activeClient(named name: String, in clients: [ClientRecord]) throws(ClientError) -> ClientRecord {
        guard let client = clients.first(where: { $0.name == name && $0.isActive }) else { throw .notFound }
        return client
    }

    /// `name` with a new token; the old one is accepted for `overlap` seconds more (0: not at all).
    static func rotate(
        name: String,
        tokenHash: [UInt8],
        overlap: TimeInterval,
        in clients: [ClientRecord],
        now: Date
    ) throws(ClientError)
        -> ClientRecord
    {
        var client = try activeClient(named: name, in: clients)
        client.previousTokenHash = overlap > 0 ? client.tokenHash : nil
        client.previousValidUntil = overlap > 0 ? now.addingTimeInterval(overlap) : nil
        client.tokenHash = tokenHash
        client.rotatedAt = now
        return client
    }

    /// `name` revoked at `now`: its token and any previous one stop working at once. The last active admin cannot be
    /// revoked (nobody could add another); add a new admin first.
    static func revoke(name: String, in clients: [ClientRecord], now: Date) throws(ClientError) -> ClientRecord {
        var client = try activeClient(named: name, in: clients)
        if client.role == .admin, clients.count(where: { $0.isActive && $0.role == .admin }) == 1 { throw .lastAdmin }
        client.revokedAt = now
        client.previousTokenHash = nil
        client.previousValidUntil = nil
        return client
    }
}
