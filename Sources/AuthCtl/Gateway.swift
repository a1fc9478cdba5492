import AuthStackCore
import AuthStackHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `authctl up`'s local stand-in for the compose gateway (DESIGN.md §8): one origin for the browser client and both
/// APIs, so the refresh cookie (`SameSite=Strict`, `Path=/`) travels with the client's calls and no CORS is needed.
/// It answers exactly the paths of ``GatewayRoutes`` (the compose gateway's allow-list); every other path is a 404
/// `not_found` problem.
struct Gateway: Sendable {
    /// The directory served at `/app/` (holds `index.html`).
    let webRoot: String
    /// Where identity's paths go.
    let identity: UpstreamProxy.Upstream
    /// Where notes' paths go.
    let notes: UpstreamProxy.Upstream
    /// The proxy that forwards to both.
    let proxy: UpstreamProxy

    /// The gateway as a Hummingbird application listening on `host:port` (port 0: any free port).
    func application(
        host: String,
        port: Int,
        logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    )
        -> some ApplicationProtocol
    {
        Application(
            router: router(logger: logger),
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    /// Errors become problem+json; `/app/` answers carry the browser hardening headers; the routing middleware answers
    /// or forwards every request, and passes those for the web client on to the file middleware (Hummingbird's
    /// `FileMiddleware` refuses `..` after percent-decoding, so nothing outside the web root is reachable).
    func router(logger: Logger) -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        router.add(middleware: WebClientHeadersMiddleware())
        router.add(middleware: GatewayRoutingMiddleware(gateway: self))
        let revalidate = CacheControl([(MediaType(type: .any), [.noCache])])
        router.add(middleware: FileMiddleware(webRoot, urlBasePath: "/app", cacheControl: revalidate, searchForIndexHtml: true, logger: logger))
        return router
    }
}

/// Sends each request where ``GatewayRoutes`` says: to a service, to the file middleware, or answered here.
struct GatewayRoutingMiddleware: RouterMiddleware {
    /// The gateway's request context.
    typealias Context = GatewayRequestContext
    /// The upstreams and the proxy.
    let gateway: Gateway

    /// Routes one request; a path outside the table is the 404 problem, and so is a missing file under `/app/`.
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch GatewayRoutes.destination(of: request.uri.path) {
        case nil:
            throw GatewayRoutes.notFound
        case .webClient:
            do {
                return try await next(request, context)
            } catch let error as any HTTPResponseError where error.status == .notFound {
                throw GatewayRoutes.notFound
            }
        case .redirect(let status, let location):
            return Response(status: HTTPResponse.Status(code: status), headers: [.location: location])
        case .health:
            return Response(
                status: .ok,
                headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: GatewayRoutes.healthBody))
            )
        case .identity:
            return try await gateway.proxy.forward(request, to: gateway.identity, peer: context.peerAddress, logger: context.logger)
        case .notes:
            return try await gateway.proxy.forward(request, to: gateway.notes, peer: context.peerAddress, logger: context.logger)
        }
    }
}

/// Browser hardening for the client's files: the page may load only its own script and style and talk only to its
/// own origin; no framing, no MIME sniffing, no referrer.
struct WebClientHeadersMiddleware: RouterMiddleware {
    /// The gateway's request context.
    typealias Context = GatewayRequestContext
    /// The policy, the same as nginx's `add_header Content-Security-Policy` (and web/index.html's `<meta>`).
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        + "frame-ancestors 'none'"

    /// Adds the headers to every answer for a web client path.
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        guard GatewayRoutes.destination(of: request.uri.path) == .webClient else { return response }
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.xFrameOptions] = "DENY"
        return response
    }
}

/// Hummingbird's basic context plus the TCP peer's address (for `X-Forwarded-For`).
struct GatewayRequestContext: RequestContext {
    /// Hummingbird's per-request storage.
    var coreContext: CoreRequestContextStorage
    /// The peer's IP address as text, when the connection has one.
    let peerAddress: String?

    /// The context of a request on `source`'s channel.
    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerAddress = source.channel.remoteAddress?.ipAddress
    }
}

/// Response headers HTTPTypes has no constant for.
extension HTTPField.Name {
    /// `Referrer-Policy`.
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    /// `X-Frame-Options`.
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
}
