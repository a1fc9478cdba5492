import AuthStackCore
import AuthStackHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `authctl up`'s local stand-in for the compose gateway (DESIGN.md §8): one origin for the browser client and both
/// APIs, so the refresh cookie (`SameSite=Strict`, `Path=/`) travels with the client's calls and no CORS is needed.
///
/// | path | goes to |
/// |---|---|
/// | `/app/…` | the static files of the web root (`/app` redirects to `/app/`) |
/// | `/notes`, `/notes/…` | the notes service |
/// | `/v1`, `/v1/…` | nowhere: 404 (the key service's API is never public) |
/// | anything else | the identity service |
struct Gateway: Sendable {
    /// Where a request path is sent.
    enum Route: Equatable, Sendable {
        case webClient
        case webClientWithoutSlash
        case blocked
        case notes
        case identity

        /// The route of a raw request path (no query). Prefixes match whole segments: `/notes-x` is identity's.
        init(path: String) {
            func under(_ prefix: String) -> Bool { path == prefix || path.hasPrefix(prefix + "/") }
            if path == "/app" {
                self = .webClientWithoutSlash
            } else if path.hasPrefix("/app/") {
                self = .webClient
            } else if under("/v1") {
                self = .blocked
            } else if under("/notes") {
                self = .notes
            } else {
                self = .identity
            }
        }
    }

    /// The directory served at `/app/` (holds `index.html`).
    let webRoot: String
    let identity: UpstreamProxy.Upstream
    let notes: UpstreamProxy.Upstream
    let proxy: UpstreamProxy

    /// The gateway as a Hummingbird application listening on `host:port` (port 0: any free port).
    func application(host: String, port: Int, logger: Logger, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in })
        -> some ApplicationProtocol
    {
        Application(
            router: router(logger: logger),
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: onServerRunning,
            logger: logger)
    }

    /// Errors become problem+json; `/app/` answers carry the browser hardening headers; files are served when the
    /// routing middleware passes a request on and nothing else answers it (Hummingbird's `FileMiddleware` refuses `..`
    /// after percent-decoding, so nothing outside the web root is reachable).
    func router(logger: Logger) -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        router.add(middleware: WebClientHeadersMiddleware())
        let revalidate = CacheControl([(MediaType(type: .any), [.noCache])])
        router.add(middleware: FileMiddleware(webRoot, urlBasePath: "/app", cacheControl: revalidate, searchForIndexHtml: true, logger: logger))
        router.add(middleware: GatewayRoutingMiddleware(gateway: self))
        return router
    }
}

/// Sends each request where ``Gateway/Route`` says; `/app/…` falls through to the file middleware.
struct GatewayRoutingMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let gateway: Gateway

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch Gateway.Route(path: request.uri.path) {
        case .webClient:
            return try await next(request, context)
        case .webClientWithoutSlash:
            // Relative URLs in index.html (app.js, app.css) resolve against /app/, not /.
            return Response(status: .movedPermanently, headers: [.location: "/app/"])
        case .blocked:
            throw ProblemDetails(.notFound, detail: "No resource at this path.")
        case .notes:
            return try await gateway.proxy.forward(request, to: gateway.notes, peer: context.peerAddress, logger: context.logger)
        case .identity:
            return try await gateway.proxy.forward(request, to: gateway.identity, peer: context.peerAddress, logger: context.logger)
        }
    }
}

/// Browser hardening for the client's files: the page may load only its own script and style and talk only to its
/// own origin; no framing, no MIME sniffing, no referrer.
struct WebClientHeadersMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        + "frame-ancestors 'none'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        guard request.uri.path.hasPrefix("/app/") else { return response }
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.xFrameOptions] = "DENY"
        return response
    }
}

/// Hummingbird's basic context plus the TCP peer's address (for `X-Forwarded-For`).
struct GatewayRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The peer's IP address as text, when the connection has one.
    let peerAddress: String?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerAddress = source.channel.remoteAddress?.ipAddress
    }
}

/// Response headers HTTPTypes has no constant for.
extension HTTPField.Name {
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
}
