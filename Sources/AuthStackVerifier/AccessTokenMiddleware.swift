import AuthStackCore
import Hummingbird

/// A request context that carries the claims of a verified access token, set by ``AccessTokenMiddleware``.
public protocol AccessTokenRequestContext: RequestContext {
    /// The verified claims, once the middleware has run; nil before.
    var accessToken: AccessTokenClaims? { get set }
}

extension AccessTokenRequestContext {
    /// The verified claims, for a route behind ``AccessTokenMiddleware``; a route that is not is a programming error,
    /// answered 500 rather than served without a check.
    public func requireAccessToken() throws -> AccessTokenClaims {
        guard let accessToken else {
            throw ProblemDetails(.internalError, detail: "The server could not complete the request.")
        }
        return accessToken
    }
}

/// The plain request context of a service that verifies AuthStack access tokens.
public struct VerifiedRequestContext: AccessTokenRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var accessToken: AccessTokenClaims?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        accessToken = nil
    }
}

/// Verifies every request's bearer access token against the followed keyring, with no call to the identity service,
/// and puts its claims in the context (docs/design.md §2.2 is every check, the same as the notes service makes).
///
/// A request without a valid token gets the ``BearerAuthenticator``'s answer, `application/problem+json`:
/// 401 `missing_token`, `invalid_token` or `token_expired` with its `WWW-Authenticate` challenge, or 503
/// `service_unavailable` with `Retry-After` before the first keyring has arrived. Put it on the routes (or the route
/// group) that need a user; operational routes such as `/healthz` stay outside it.
public struct AccessTokenMiddleware<Context: AccessTokenRequestContext, Source: KeyringSource>: RouterMiddleware {
    public let authenticator: BearerAuthenticator<Source>

    public init(authenticator: BearerAuthenticator<Source>) { self.authenticator = authenticator }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        do {
            context.accessToken = try await authenticator.authenticate(request)
        } catch {
            return error.response()
        }
        return try await next(request, context)
    }
}
