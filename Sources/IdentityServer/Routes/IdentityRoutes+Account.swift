import AuthStackCore
import AuthStackHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Logging

extension IdentityRoutes {
    // The account and its sessions (docs/design.md §5.2).

    func me(_ request: Request) async throws -> Response {
        let claims = try await authenticator.authenticate(request)
        guard let user = try await store.user(id: claims.subject) else { throw unknownSubject() }
        return try json(.ok, MeBody(id: user.id, username: user.username, createdAt: user.createdAt))
    }

    func sessions(_ request: Request) async throws -> Response {
        let claims = try await authenticator.authenticate(request)
        let sessions = try await store.liveSessions(userID: claims.subject, now: clock())
        return try json(
            .ok,
            SessionsBody(
                sessions: sessions.map {
                    SessionsBody.Session(
                        id: $0.id,
                        createdAt: $0.createdAt,
                        lastUsedAt: $0.lastUsedAt,
                        expiresAt: $0.expiresAt,
                        userAgent: $0.userAgent,
                        current: $0.id == claims.sessionID
                    )
                }
            )
        )
    }

    func deleteSession(_ request: Request, id: String) async throws -> Response {
        let claims = try await authenticator.authenticate(request)
        guard try await store.revokeSession(id: id, userID: claims.subject, now: clock()) else {
            throw ProblemDetails(.sessionNotFound, detail: "You have no live session with this id.")
        }
        // Deleting the session this request belongs to is a logout: the browser's cookie goes too.
        var headers: HTTPFields = [.cacheControl: "no-store"]
        if id == claims.sessionID { headers[.setCookie] = clearedCookie }
        return Response(status: .noContent, headers: headers)
    }
}
