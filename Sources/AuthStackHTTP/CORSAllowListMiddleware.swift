import AuthStackCore
import Foundation
import HTTPTypes
import Hummingbird

/// Cross-origin access for browser frontends served from other origins (docs/design.md §5; issue "browser client"):
/// an allow-list of exact origins, with credentials (the refresh cookie), and preflight answered here.
///
/// - A request whose `Origin` is on the list gets `Access-Control-Allow-Origin: <that origin>`,
///   `Access-Control-Allow-Credentials: true` and `Vary: Origin`; never `*` (browsers refuse `*` with credentials,
///   and echoing any origin would hand every site the user's session).
/// - A preflight (`OPTIONS` with `Access-Control-Request-Method`) from a listed origin is answered 204 with the
///   methods and headers the APIs use, cached for 10 minutes; from any other origin, 403 `forbidden`.
/// - Requests from unlisted origins are served without CORS headers, so the browser withholds the answer.
public struct CORSAllowListMiddleware<Context: RequestContext>: RouterMiddleware {
    public let origins: Set<String>

    public init(origins: some Sequence<String>) { self.origins = Set(origins) }

    static var allowedMethods: String { "GET, POST, PATCH, DELETE" }
    static var allowedHeaders: String { "Authorization, Content-Type, X-Request-ID" }
    static var exposedHeaders: String { "Location, Retry-After, WWW-Authenticate, X-Request-ID" }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else { return try await next(request, context) }
        let allowed = origins.contains(origin)
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            guard allowed else {
                return ProblemDetails(.forbidden, detail: "This origin may not call the API from a browser.").response(extraHeaders: [.vary: "Origin"]
                )
            }
            return Response(
                status: .noContent,
                headers: [
                    .accessControlAllowOrigin: origin, .accessControlAllowCredentials: "true",
                    .accessControlAllowMethods: Self.allowedMethods, .accessControlAllowHeaders: Self.allowedHeaders,
                    .accessControlMaxAge: "600", .vary: "Origin",
                ]
            )
        }
        var response = try await next(request, context)
        response.headers.append(HTTPField(name: .vary, value: "Origin"))
        if allowed {
            response.headers[.accessControlAllowOrigin] = origin
            response.headers[.accessControlAllowCredentials] = "true"
            response.headers[.accessControlExposeHeaders] = Self.exposedHeaders
        }
        return response
    }
}
