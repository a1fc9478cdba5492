import AuthStackCore
import Crypto

/// What a key-service client may do (docs/design.md §5).
enum ClientRole: String, Sendable {
    /// Reads the keyring (notes).
    case verifier
    /// Reads the keyring and signs with it (identity).
    case signer
    /// Everything, including rotation and revocation (authctl).
    case admin
}

/// The key service's clients, each known only by the SHA-256 of its token.
///
/// Tokens are 256-bit random values, so a plain SHA-256 is a sufficient one-way store; a presented token is hashed and
/// compared against every client in constant time.
struct ClientRegistry: Sendable {
    /// One client.
    struct Client: Sendable, Equatable {
        let name: String
        let role: ClientRole
        let tokenHash: [UInt8]
    }

    let clients: [Client]

    /// Clients from `(name, role, token)` triples.
    init(tokens: [(name: String, role: ClientRole, token: String)]) {
        clients = tokens.map { Client(name: $0.name, role: $0.role, tokenHash: Self.hash($0.token)) }
    }

    /// The clients `authctl init` created: `identity` (signer), `notes` (verifier), `admin` (admin).
    init(secrets: SecretsDirectory) throws {
        self.init(
            tokens: try SecretsDirectory.clients.map { client in
                (client.name, ClientRole(rawValue: client.role) ?? .verifier, try secrets.read("\(client.name).token"))
            }
        )
    }

    /// The client whose token this is, or nil.
    func authenticate(_ token: String) -> Client? {
        let presented = Self.hash(token)
        var found: Client?
        // Compare against every client without stopping early.
        for client in clients where ConstantTime.equals(client.tokenHash, presented) { found = client }
        return found
    }

    private static func hash(_ token: String) -> [UInt8] { Array(SHA256.hash(data: Array(token.utf8))) }
}
