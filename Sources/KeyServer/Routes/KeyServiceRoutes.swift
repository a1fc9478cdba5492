import AuthStackCore
import AuthStackHTTP
import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle

/// The internal API of docs/design.md §5: `/v1/keyring` for clients, `/v1/keys…` for admins. Authentication and role are
/// checked before anything else, so a wrong role is 403 even for an unknown kid.
struct KeyServiceRoutes: Sendable {
    let manager: KeyManager
    let clients: ClientRegistry
    /// Longest accepted `wait` in seconds.
    static let maximumWait = 60

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
    }

    private func keyring(_ request: Request) async throws -> Response {
        try authorize(request, allowing: [.verifier, .signer, .admin])
        let wait = try waitSeconds(request)
        var published = await manager.publication.current
        if let tag = request.headers[.ifNoneMatch], tag == published.etag {
            // A shutting-down key service ends its long-polls with 304 at once instead of holding up
            // its exit for `wait` seconds; followers then retry against another replica or the restart.
            let publication = manager.publication
            guard wait > 0,
                let changed = await cancelWhenGracefulShutdown({ await publication.waitForChange(from: tag, timeout: .seconds(wait)) })
            else {
                return Response(status: .notModified, headers: [.eTag: published.etag, .cacheControl: "no-store"])
            }
            published = changed
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", .eTag: published.etag, .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: published.body))
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

    /// The caller's client, or a 401/403 problem.
    private func authorize(_ request: Request, allowing roles: Set<ClientRole>) throws {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            let client = clients.authenticate(String(header.dropFirst("Bearer ".count)))
        else {
            var problem = ProblemDetails(.unauthorized, detail: "Send a key-service client token as a Bearer token.")
            problem.wwwAuthenticate = #"Bearer realm="keys""#
            throw problem
        }
        guard roles.contains(client.role) else {
            throw ProblemDetails(.forbidden, detail: "The \(client.role.rawValue) role cannot do this.")
        }
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
        }
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
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        let listing = Listing(version: metadata.version, currentKid: metadata.keys.first { $0.status == .current }?.kid, keys: metadata.keys)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(listing)))
        )
    }
}
