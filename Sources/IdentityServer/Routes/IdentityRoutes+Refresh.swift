import AuthStackCore
import AuthStackHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Logging

extension IdentityRoutes {
    // Refresh and logout (docs/design.md §3).

    func refresh(_ request: Request, _ context: IdentityRequestContext) async throws -> Response {
        var body = try await JSONRequestBody.read(request, limit: configuration.maximumBodyBytes, allowEmpty: true)
        let fromBody = body.optionalString("refresh_token")
        try body.validate()
        guard let text = fromBody ?? request.cookies["refresh_token"]?.value, let token = RefreshToken(presented: text) else {
            throw invalidRefreshToken()
        }
        try requireSigningKey()
        let now = clock()
        // The per-address limit is checked by the store before the token is looked at (in the same transaction on
        // SQLite); a refused refresh consumes nothing. Malformed requests are refused above without touching it.
        let admission = RefreshAdmission(
            key: "refresh:" + clientAddress(request, context),
            limit: configuration.throttle.refreshesPerAddressPerMinute,
            window: 60
        )
        switch try await store.refresh(token, admission: admission, now: now, settings: configuration.refresh) {
        case .throttled(let retryAfter):
            metrics.refreshes("throttled")
            throw ProblemDetails(.rateLimited, detail: "Too many requests from this address; retry later.", retryAfter: retryAfter)
        case .issued(let successor, let session, let user, let replayed):
            if replayed { metrics.refreshes("replayed") } else { metrics.refreshes("rotated") }
            let accessToken = try signAccessToken(user: user, sessionID: session.id, now: now)
            return tokenResponse(status: .ok, accessToken: accessToken, refreshToken: successor, session: session, now: now)
        case .reused(let sessionID):
            metrics.refreshes("reused")
            context.logger.warning("refresh token reused; session revoked", metadata: ["session_id": "\(sessionID)"])
            throw ProblemResponse(
                problem: ProblemDetails(.refreshTokenReused, detail: "This refresh token was already used; the session is revoked. Log in again."),
                headers: [.setCookie: clearedCookie]
            )
        case .invalid:
            metrics.refreshes("invalid")
            throw invalidRefreshToken()
        }
    }

    /// 204 and a cleared cookie: logging out twice, or with a token that is gone, is not an error. A body that is not
    /// JSON is (415, 400, 413, like every endpoint): a cross-site form post must not log anyone out.
    func logout(_ request: Request) async throws -> Response {
        var body = try await JSONRequestBody.read(request, limit: configuration.maximumBodyBytes, allowEmpty: true)
        let text = body.optionalString("refresh_token")
        try body.validate()
        if let token = (text ?? request.cookies["refresh_token"]?.value).flatMap(RefreshToken.init(presented:)) {
            // A store that cannot revoke now is a 503, never a 204: the user must not believe the session ended.
            _ = try await store.revokeSession(of: token, now: clock())
        }
        return Response(status: .noContent, headers: [.setCookie: clearedCookie, .cacheControl: "no-store"])
    }

    func logoutAll(_ request: Request) async throws -> Response {
        let claims = try await authenticator.authenticate(request)
        _ = try await store.revokeAllSessions(userID: claims.subject, now: clock())
        return Response(status: .noContent, headers: [.setCookie: clearedCookie, .cacheControl: "no-store"])
    }
}
