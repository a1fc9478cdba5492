import AuthStackCore
import Foundation
import Hummingbird

/// Checks the access token of a request (RFC 6750 bearer, docs/design.md §2) against the keyring a service
/// holds, with no call to the identity service.
///
/// Failures are 401 problems carrying `WWW-Authenticate`:
/// - no `Authorization: Bearer` credentials → `missing_token`, `Bearer realm="…"` (no `error`, RFC 6750 §3.1);
/// - any failed check → `invalid_token`, `Bearer realm="…", error="invalid_token"`, with one generic
///   detail whatever the check (no oracle for forgers);
/// - a token failing only `exp` → `token_expired`, same header, so clients know to refresh.
///
/// A token naming a kid that is not held asks the keyring source for one refresh (single-flight and
/// rate-limited there), then is verified again against what it holds. Before any keyring has arrived
/// the answer is 503 `service_unavailable` with `Retry-After`, never a 401 for a valid token.
public struct BearerAuthenticator<Source: KeyringSource>: Sendable {
    public let realm: String
    public let verifier: AccessTokenVerifier
    public let keyring: Source
    private let now: @Sendable () -> Double

    public init(
        realm: String,
        policy: TokenVerificationPolicy,
        keyring: Source,
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.realm = realm
        self.verifier = AccessTokenVerifier(policy: policy)
        self.keyring = keyring
        self.now = now
    }

    /// The verified claims of the request's bearer token, or a 401 (503 before the first keyring) problem.
    public func authenticate(_ request: Request) async throws(ProblemDetails) -> AccessTokenClaims {
        try await authenticate(authorization: request.headers[.authorization])
    }

    /// The verified claims of the token in an `Authorization` header value.
    public func authenticate(authorization: String?) async throws(ProblemDetails) -> AccessTokenClaims {
        guard let authorization, let token = BearerCredentials.token(in: authorization) else {
            var problem = ProblemDetails(.missingToken, detail: "Send an access token as `Authorization: Bearer <token>`.")
            problem.wwwAuthenticate = "Bearer realm=\"\(realm)\""
            throw problem
        }
        guard let held = keyring.current() else {
            throw ProblemDetails(.serviceUnavailable, detail: "The service has no signing keys yet; retry shortly.", retryAfter: 1)
        }
        switch verify(token, held) {
        case .success(let claims):
            return claims
        case .failure(.unknownKeyID):
            // A kid we do not hold: perhaps a key newer than our keyring. One refresh, then a final answer.
            guard let refreshed = await keyring.refreshForUnknownKeyID(), refreshed !== held else {
                throw rejection(.unknownKeyID)
            }
            switch verify(token, refreshed) {
            case .success(let claims): return claims
            case .failure(let reason): throw rejection(reason)
            }
        case .failure(let reason):
            throw rejection(reason)
        }
    }

    /// The claims of the bearer token in `authorization` when it verifies against the keyring held now — nil for
    /// anything else, with no keyring refresh: for inline responders, which leave every failure to ``authenticate(_:)``.
    public func claimsIfValid(authorization: String?) -> AccessTokenClaims? {
        guard let authorization, let token = BearerCredentials.token(in: authorization), let held = keyring.current() else { return nil }
        return try? verify(token, held).get()
    }

    private func verify(_ token: Substring, _ snapshot: KeyringSnapshot) -> Result<AccessTokenClaims, TokenRejection> {
        var token = token
        let seconds = now()
        return token.withUTF8 { verifier.verify(utf8: $0, keys: snapshot.keyring.verificationKeys, now: seconds) }
    }

    private func rejection(_ reason: TokenRejection) -> ProblemDetails {
        let code = reason.problemCode
        var problem = ProblemDetails(
            code,
            detail: code == .tokenExpired ? "The access token has expired; refresh it." : "The access token is not valid here."
        )
        problem.wwwAuthenticate = "Bearer realm=\"\(realm)\", error=\"invalid_token\""
        return problem
    }
}

/// The `Authorization: Bearer` parse every service shares: identity and notes for access tokens, the key service for
/// client tokens.
public enum BearerCredentials {
    /// The credentials of a `Bearer` authorization (scheme case-insensitive, RFC 7235 §2.1), or nil for
    /// another scheme or no credentials. Whitespace inside the token is left in: the verifier rejects it.
    public static func token(in header: String) -> Substring? {
        let utf8 = header.utf8
        guard utf8.count > 7 else { return nil }
        let scheme = utf8.prefix(6)
        guard scheme.elementsEqual("bearer".utf8, by: { ($0 | 0x20) == $1 }) else { return nil }
        let afterScheme = utf8.index(utf8.startIndex, offsetBy: 6)
        guard utf8[afterScheme] == UInt8(ascii: " ") else { return nil }
        var start = afterScheme
        while start < utf8.endIndex, utf8[start] == UInt8(ascii: " ") { start = utf8.index(after: start) }
        guard start < utf8.endIndex else { return nil }
        return header[start...]
    }
}
