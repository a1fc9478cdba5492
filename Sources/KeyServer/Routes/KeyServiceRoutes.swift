import AuthStackCore
import AuthStackHTTP
import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle

/// The internal API of docs/design.md §5.4: `/v1/keyring` for clients, `/v1/keys…` and `/v1/clients…` for admins. Authentication and role are
/// checked before anything else, so a wrong role is 403 even for an unknown kid.
struct KeyServiceRoutes: Sendable {
    let manager: KeyManager
    let clients: ClientManager
    /// Longest accepted `wait` in seconds.
    static let maximumWait = 60
    /// Default overlap of a client-token rotation: the old token works for one more hour.
    static let defaultOverlap = 3_600
    /// Largest accepted `POST /v1/clients` body.
    static let maximumBodyBytes = 1_024

    func addRoutes(to router: ServiceRouter<BasicRequestContext>) {
        router.get("/v1/keyring") { request, _ in try await keyring(request) }
        router.get("/v1/keys") { request, _ in
            try authorize(request, allowing: [.admin])
            return try metadataResponse(try await manager.metadata())
        }
        router.post("/v1/keys/rotate") { request, _ in
            try authorize(request, allowing: [.admin])
            let force = request.uri.queryParameters["force"].map { $0 == "true" || $0 == "1" } ?? false
            return try metadataResponse(try await run { try await manager.rotate(force: force) })
        }
        router.post("/v1/keys/{kid}/revoke") { request, context in
            try authorize(request, allowing: [.admin])
            let kid = try context.parameters.require("kid")
            return try metadataResponse(try await run { try await manager.revoke(kid: kid) })
        }
        router.get("/v1/clients") { request, _ in
            try authorize(request, allowing: [.admin])
            return try Self.json(.ok, ClientListing(try await clients.list()))
        }
        router.post("/v1/clients") { request, _ in
            try authorize(request, allowing: [.admin])
            var body = try await JSONRequestBody.read(request, limit: Self.maximumBodyBytes)
            let name = body.requiredString("name")
            let roleText = body.requiredString("role")
            if let name, !ClientPolicy.isValidName(name) { body.reject("name", ClientPolicy.nameRule) }
            let role = roleText.flatMap(ClientRole.init(rawValue:))
            if roleText != nil, role == nil { body.reject("role", "must be verifier, signer or admin") }
            try body.validate()
            guard let name, let role else { throw ProblemDetails(.invalidRequest, detail: "The request is invalid.") }
            let (client, token) = try await run { try await clients.add(name: name, role: role) }
            return try Self.json(.created, IssuedClientToken(client, token: token))
        }
        router.post("/v1/clients/{name}/rotate") { request, context in
            try authorize(request, allowing: [.admin])
            let name = try context.parameters.require("name")
            let overlap = try overlapSeconds(request)
            let (client, token) = try await run { try await clients.rotate(name: name, overlap: TimeInterval(overlap)) }
            return try Self.json(.ok, IssuedClientToken(client, token: token))
        }
        router.delete("/v1/clients/{name}") { request, context in
            try authorize(request, allowing: [.admin])
            let name = try context.parameters.require("name")
            try await run { try await clients.revoke(name: name) }
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }
    }

    private func keyring(_ request: Request) async throws -> Response {
        let (token, role) = try authorize(request, allowing: [.verifier, .signer, .admin])
        let wait = try waitSeconds(request)
        var published = await manager.publication.current
        if let tag = request.headers[.ifNoneMatch], tag == published.etag {
            // A shutting-down key service ends its long-polls with 304 at once instead of holding up
            // its exit for `wait` seconds; followers then retry against another replica or the restart.
            // A client revoked meanwhile (here or on another replica) is answered 401 at once.
            let publication = manager.publication
            let directory = clients.directory
            let now = clients.clock()
            guard wait > 0 else { return Response(status: .notModified, headers: [.eTag: published.etag, .cacheControl: "no-store"]) }
            let outcome = await cancelWhenGracefulShutdown {
                await withTaskGroup(of: LongPollOutcome.self) { group in
                    group.addTask { .changed(await publication.waitForChange(from: tag, timeout: .seconds(wait))) }
                    group.addTask { await directory.untilRefused(token, now: now) ? .refused : .changed(nil) }
                    let first = await group.next() ?? .changed(nil)
                    group.cancelAll()
                    return first
                }
            }
            switch outcome {
            case .refused:
                throw Self.unauthorized
            case .changed(let changed?):
                published = changed
            case .changed(nil):
                return Response(status: .notModified, headers: [.eTag: published.etag, .cacheControl: "no-store"])
            }
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", .eTag: published.etag, .cacheControl: "no-store"],
            // Only a signer receives EdDSA private keys; verifiers and admins get the public part.
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: role == .signer ? published.body : published.publicBody))
        )
    }

    private func waitSeconds(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters["wait"] else { return 0 }
        guard let seconds = Int(String(text)), (0...Self.maximumWait).contains(seconds) else {
            throw ProblemDetails(
                .invalidRequest,
                detail: "wait must be an integer number of seconds from 0 to \(Self.maximumWait).",
                errors: [.init(field: "wait", message: "expected an integer 0–\(Self.maximumWait)")]
            )
        }
        return seconds
    }

    private enum LongPollOutcome: Sendable {
        /// The keyring changed (nil: the wait ended without a change).
        case changed(PublishedKeyring?)
        /// The caller's token stopped working.
        case refused
    }

    private func overlapSeconds(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters["overlap"] else { return Self.defaultOverlap }
        let maximum = Int(ClientPolicy.maximumOverlap)
        guard let seconds = Int(String(text)), (0...maximum).contains(seconds) else {
            throw ProblemDetails(
                .invalidRequest,
                detail: "overlap must be an integer number of seconds from 0 to \(maximum).",
                errors: [.init(field: "overlap", message: "expected an integer 0–\(maximum)")]
            )
        }
        return seconds
    }

    private static var unauthorized: ProblemDetails {
        var problem = ProblemDetails(.unauthorized, detail: "Send a key-service client token as a Bearer token.")
        problem.wwwAuthenticate = #"Bearer realm="keys""#
        return problem
    }

    /// The caller's token and role when it is a client's with one of `roles`, or a 401/403 problem.
    @discardableResult
    private func authorize(_ request: Request, allowing roles: Set<ClientRole>) throws -> (token: String, role: ClientRole) {
        // The scheme in any case (RFC 7235 §2.1), parsed as identity and notes parse it.
        guard let header = request.headers[.authorization], let credentials = BearerCredentials.token(in: header) else {
            throw Self.unauthorized
        }
        let token = String(credentials)
        guard let client = clients.authenticate(token) else { throw Self.unauthorized }
        guard roles.contains(client.role) else {
            throw ProblemDetails(.forbidden, detail: "The \(client.role.rawValue) role cannot do this.")
        }
        return (token, client.role)
    }

    /// Runs a lifecycle operation, mapping its refusals to problems.
    private func run<T: Sendable>(_ operation: () async throws -> T) async throws -> T {
        do {
            return try await operation()
        } catch KeyLifecycleError.rotationTooSoon(let retryAfter) {
            throw ProblemDetails(
                .rotationTooSoon,
                detail: "The next key was published less than the publish lead ago; retry later or use force=true.",
                retryAfter: retryAfter
            )
        } catch KeyLifecycleError.keyringFull {
            throw ProblemDetails(.keyringFull, detail: "Rotating now would leave more than 32 keys verifying.")
        } catch KeyLifecycleError.keyNotFound {
            throw ProblemDetails(.keyNotFound, detail: "No key has this kid.")
        } catch let error as ClientError {
            switch error {
            case .invalidName: throw ProblemDetails(.invalidRequest, detail: "A client name is \(ClientPolicy.nameRule).")
            case .exists: throw ProblemDetails(.clientExists, detail: "An active client has this name; revoke it first, or rotate its token.")
            case .notFound: throw ProblemDetails(.clientNotFound, detail: "No active client has this name.")
            case .limitReached:
                throw ProblemDetails(.clientLimitReached, detail: "There are \(ClientPolicy.maximumClients) active clients; revoke one first.")
            case .lastAdmin: throw ProblemDetails(.lastAdmin, detail: "This is the last admin client; add another admin before revoking it.")
            }
        }
    }

    private static func json(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value)))
        )
    }

    private func metadataResponse(_ metadata: (version: Int, keys: [KeyMetadata])) throws -> Response {
        struct Listing: Encodable {
            let version: Int
            let currentKid: String?
            let keys: [KeyMetadata]
            enum CodingKeys: String, CodingKey {
                case version, keys
                case currentKid = "current_kid"
            }
        }
        let listing = Listing(version: metadata.version, currentKid: metadata.keys.first { $0.status == .current }?.kid, keys: metadata.keys)
        return try Self.json(.ok, listing)
    }
}

/// A client as the admin API lists it: never its token or the token's hash.
struct ClientSummary: Encodable {
    let name: String
    let role: ClientRole
    let status: String
    let createdAt: Date
    let rotatedAt: Date?
    let lastSeenAt: Date?
    let revokedAt: Date?
    let previousTokenValidUntil: Date?

    init(_ client: ClientRecord) {
        name = client.name
        role = client.role
        status = client.isActive ? "active" : "revoked"
        createdAt = client.createdAt
        rotatedAt = client.rotatedAt
        lastSeenAt = client.lastSeenAt
        revokedAt = client.revokedAt
        previousTokenValidUntil = client.previousValidUntil
    }

    enum CodingKeys: String, CodingKey {
        case name, role, status
        case createdAt = "created_at"
        case rotatedAt = "rotated_at"
        case lastSeenAt = "last_seen_at"
        case revokedAt = "revoked_at"
        case previousTokenValidUntil = "previous_token_valid_until"
    }

    /// Every member always present, `null` when unset, as in the key metadata.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(role, forKey: .role)
        try container.encode(status, forKey: .status)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(rotatedAt, forKey: .rotatedAt)
        try container.encode(lastSeenAt, forKey: .lastSeenAt)
        try container.encode(revokedAt, forKey: .revokedAt)
        try container.encode(previousTokenValidUntil, forKey: .previousTokenValidUntil)
    }
}

/// `GET /v1/clients`: active clients first, then tombstones, each by name.
struct ClientListing: Encodable {
    let version: Int
    let clients: [ClientSummary]

    init(_ snapshot: ClientSnapshot) {
        version = snapshot.version
        clients = (snapshot.clients.filter(\.isActive) + snapshot.clients.filter { !$0.isActive }).map(ClientSummary.init)
    }
}

/// The answer that carries a new client token: the only time the key service shows it.
struct IssuedClientToken: Encodable {
    let client: ClientSummary
    let token: String

    init(_ client: ClientRecord, token: String) {
        self.client = ClientSummary(client)
        self.token = token
    }
}
