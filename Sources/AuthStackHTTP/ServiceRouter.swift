import AuthStackCore
import HTTPTypes
import Hummingbird
import Synchronization

/// The paths and methods a service's router answers, as registered: what a 405 needs to say in `Allow`.
public final class RouteTable: Sendable {
    private struct Route {
        let path: RouterPath
        var methods: [HTTPRequest.Method]
    }

    private let routes = Mutex<[Route]>([])

    /// An empty table.
    public init() {}

    /// Records that `path` answers `method`.
    public func record(_ path: RouterPath, _ method: HTTPRequest.Method) {
        routes.withLock { routes in
            if let index = routes.firstIndex(where: { $0.path == path }) {
                if !routes[index].methods.contains(method) { routes[index].methods.append(method) }
            } else {
                routes.append(Route(path: path, methods: [method]))
            }
        }
    }

    /// The methods registered for the routes that match `path` (in registration order, without repeats); empty when
    /// no route matches it at all.
    public func methods(matching path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return routes.withLock { routes in
            var methods: [HTTPRequest.Method] = []
            for route in routes where Self.matches(route.path.components, segments) {
                for method in route.methods where !methods.contains(method) { methods.append(method) }
            }
            return methods
        }
    }

    private static func matches(_ components: [RouterPath.Element], _ segments: [Substring]) -> Bool {
        if let last = components.last, last.description == "**" {
            let fixed = components.dropLast()
            return segments.count >= fixed.count && zip(fixed, segments).allSatisfy { $0 ~= $1 }
        }
        return components.count == segments.count && zip(components, segments).allSatisfy { $0 ~= $1 }
    }
}

/// A service's router: routes go to the Hummingbird `router` and are recorded in `table`, so that a known path asked
/// with a method it does not take is answered 405 with `Allow` (RFC 9110 §15.5.6) rather than 404.
public struct ServiceRouter<Context: RequestContext>: RouterMethods {
    /// The Hummingbird router the application runs.
    public let router: Router<Context>
    /// What has been registered.
    public let table: RouteTable

    /// Wraps `router`; routes registered on `router` directly are not recorded.
    public init(router: Router<Context>, table: RouteTable = RouteTable()) {
        self.router = router
        self.table = table
    }

    @discardableResult public func on<Responder: HTTPResponder>(
        _ path: RouterPath,
        method: HTTPRequest.Method,
        responder: Responder
    ) -> ServiceRouter<Context> where Responder.Context == Context {
        table.record(path, method)
        router.on(path, method: method, responder: responder)
        return self
    }

    @discardableResult public func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> ServiceRouter<Context> {
        router.add(middleware: middleware)
        return self
    }
}

/// Turns the router's "no route" 404 into 405 + `Allow` when the path exists with other methods.
public struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let table: RouteTable

    /// The middleware over `table`.
    public init(table: RouteTable) {
        self.table = table
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = table.methods(matching: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else { throw error }
            throw ProblemResponse(
                problem: ProblemDetails(.methodNotAllowed, detail: "This path does not accept \(request.method.rawValue.prefix(16))."),
                headers: [.allow: allowed.map(\.rawValue).joined(separator: ", ")]
            )
        }
    }
}
