import AuthStackCore
import AuthStackHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Logging

extension IdentityRoutes {
    // What the handlers share: addresses, throttles, signing, responses and their problems.

    func clientAddress(_ request: Request, _ context: IdentityRequestContext) -> String {
        addresses.clientAddress(peer: context.peerAddress, forwardedFor: request.headers[.xForwardedFor], viaProxySocket: context.viaProxySocket)
    }

    func admit(_ key: String, limit: Int, window: Double) async throws {
        if case .throttled(let retryAfter) = try await store.admit(key, limit: limit, window: window, now: clock()) {
            throw ProblemDetails(.rateLimited, detail: "Too many requests from this address; retry later.", retryAfter: retryAfter)
        }
    }

    /// Identity cannot issue tokens before it holds a keyring: 503 before any write, so no user or session is left
    /// half-made.
    func requireSigningKey() throws {
        guard keyring.current()?.keyring.signingKey != nil else {
            throw ProblemDetails(.serviceUnavailable, detail: "The service has no signing key yet; retry shortly.", retryAfter: 1)
        }
    }

    func signAccessToken(user: UserRecord, sessionID: String, now: Date) throws -> String {
        // An EdDSA keyring without private keys (identity's client registered as a verifier) cannot sign either.
        guard let signingKey = keyring.current()?.keyring.signingKey else {
            throw ProblemDetails(.serviceUnavailable, detail: "The service has no signing key yet; retry shortly.", retryAfter: 1)
        }
        let signer = AccessTokenSigner(issuer: configuration.issuer, audience: configuration.audiences, timeToLive: configuration.accessTokenLifetime)
        return signer.sign(
            signer.claims(subject: user.id, username: user.username, sessionID: sessionID, now: now),
            with: signingKey
        )
    }

    func tokenResponse(status: HTTPResponse.Status, accessToken: String, refreshToken: RefreshToken, session: SessionRecord, now: Date) -> Response {
        let refreshExpiresIn = max(0, Int(session.expiresAt.timeIntervalSince(now).rounded(.down)))
        let body = TokenBody(
            accessToken: accessToken,
            tokenType: "Bearer",
            expiresIn: Int(configuration.accessTokenLifetime),
            refreshToken: refreshToken.value,
            refreshExpiresIn: refreshExpiresIn
        )
        var attributes = "refresh_token=\(refreshToken.value); Path=/; Max-Age=\(refreshExpiresIn); HttpOnly; SameSite=Strict"
        if configuration.cookieSecure { attributes += "; Secure" }
        return Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store", .setCookie: attributes],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try! Self.encoder.encode(body)))
        )
    }

    var clearedCookie: String {
        "refresh_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" + (configuration.cookieSecure ? "; Secure" : "")
    }

    func json(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try Self.encoder.encode(value)))
        )
    }

    func usernameTaken() -> ProblemDetails {
        ProblemDetails(.usernameTaken, detail: "That username is taken.", errors: [.init(field: "username", message: "is taken")])
    }

    func invalidRefreshToken() -> ProblemResponse {
        ProblemResponse(
            problem: ProblemDetails(.invalidRefreshToken, detail: "The refresh token is unknown, expired or revoked. Log in again."),
            headers: [.setCookie: clearedCookie]
        )
    }

    func unknownSubject() -> ProblemDetails {
        var problem = ProblemDetails(.invalidToken, detail: "The access token is not valid here.")
        problem.wwwAuthenticate = "Bearer realm=\"identity\", error=\"invalid_token\""
        return problem
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
