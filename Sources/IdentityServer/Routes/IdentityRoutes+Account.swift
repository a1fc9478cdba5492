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

    /// `POST /password` (docs/design.md §5.2): the current password, checked like a login (the same throttle, the same
    /// cost for every answer), and a new one that passes the signup rules. The hash is replaced and every other session
    /// of the user revoked in one transaction; the calling session stays. A wrong current password is a 400 on its
    /// field, not a 401: the access token is fine, and a client must not take the answer for "log in again".
    func changePassword(_ request: Request, _ context: IdentityRequestContext) async throws -> Response {
        let claims = try await authenticator.authenticate(request)
        var body = try await JSONRequestBody.read(request, limit: configuration.maximumBodyBytes)
        let current = body.requiredString("current_password")
        let new = body.requiredString("new_password")
        if let new, let problem = Password.problem(with: new) { body.reject("new_password", problem) }
        if let current, let new, current == new { body.reject("new_password", "must differ from the current password") }
        try body.validate()
        guard let current, let new else { throw ProblemDetails(.invalidRequest, detail: "The request is invalid.") }
        guard let user = try await store.user(id: claims.subject) else { throw unknownSubject() }
        let accountKey = ThrottleKey.account(user.username)
        let addressKey = ThrottleKey.loginAddress(clientAddress(request, context))
        try await admitPasswordAttempt(accountKey: accountKey, addressKey: addressKey, detail: "Too many wrong passwords; retry later.")
        let verification = try await verifyPassword(
            current,
            against: user.passwordHash,
            accountKey: accountKey,
            addressKey: addressKey,
            detail: "Too many password checks at once; retry shortly."
        )
        guard case .match = verification else { throw Self.wrongCurrentPassword }
        try await store.recordLoginSuccess(accountKey: accountKey, addressKey: addressKey)
        let replacement = try await hash(new)
        guard
            let revoked = try await store.changePassword(
                userID: user.id,
                old: user.passwordHash,
                new: replacement,
                keeping: claims.sessionID,
                now: clock()
            )
        else {
            // Changed by another request between our read and our write: the password just checked is no longer it.
            throw Self.wrongCurrentPassword
        }
        context.logger.notice("password changed", metadata: ["user_id": "\(user.id)", "sessions_revoked": "\(revoked)"])
        return try json(.ok, PasswordChangedBody(revokedSessions: revoked))
    }

    static var wrongCurrentPassword: ProblemDetails {
        ProblemDetails(
            .invalidRequest,
            detail: "The current password is wrong.",
            errors: [.init(field: "current_password", message: "does not match the account's password")]
        )
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
