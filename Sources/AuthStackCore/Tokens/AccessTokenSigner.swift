import Foundation

/// Issues AuthStack access tokens: JWS compact, header `{"alg":"HS256"|"EdDSA","typ":"at+jwt","kid":…}`, the `alg`
/// being the signing key's own algorithm (docs/design.md §2).
public struct AccessTokenSigner: Sendable {
    /// Default access-token lifetime: 15 minutes.
    public static let defaultTimeToLive: Double = 15 * 60

    /// `iss` of every token.
    public let issuer: String
    /// `aud` of every token.
    public let audience: [String]
    /// Lifetime in seconds: `exp` = `iat` + this.
    public let timeToLive: Double

    /// A signer with the configured issuer, audience list and TTL.
    public init(issuer: String = "authstack", audience: [String] = ["identity", "notes"], timeToLive: Double = AccessTokenSigner.defaultTimeToLive) {
        self.issuer = issuer
        self.audience = audience
        self.timeToLive = timeToLive
    }

    /// Claims for a new token: `iat` is `now` in whole seconds, `jti` 128 random bits.
    public func claims(subject: String, username: String, sessionID: String, now: Date) -> AccessTokenClaims {
        let issuedAt = now.timeIntervalSince1970.rounded(.down)
        return AccessTokenClaims(
            issuer: issuer,
            audience: audience,
            subject: subject,
            username: username,
            sessionID: sessionID,
            tokenID: Base64URL.encode(SecretBytes.random(count: 16).bytes),
            issuedAt: issuedAt,
            expiresAt: issuedAt + timeToLive
        )
    }

    /// Signs `claims` with the HS256 key `key`; the result is the compact serialisation.
    public func sign(_ claims: AccessTokenClaims, with key: HS256Key) -> String {
        sign(claims, with: AccessTokenSigningKey(key))
    }

    /// Signs `claims` with `key` under the key's algorithm; the result is the compact serialisation.
    public func sign(_ claims: AccessTokenClaims, with key: AccessTokenSigningKey) -> String {
        var header = JSONWriter(capacity: 64)
        header.beginObject()
        header.member("alg", key.algorithm.rawValue)
        header.member("typ", "at+jwt")
        header.member("kid", key.kid)
        header.endObject()

        var payload = JSONWriter()
        payload.beginObject()
        payload.member("iss", claims.issuer)
        payload.member("aud", claims.audience)
        payload.member("sub", claims.subject)
        if let username = claims.username { payload.member("username", username) }
        if let sessionID = claims.sessionID { payload.member("sid", sessionID) }
        if let tokenID = claims.tokenID { payload.member("jti", tokenID) }
        payload.member("iat", claims.issuedAt)
        payload.member("exp", claims.expiresAt)
        if let notBefore = claims.notBefore { payload.member("nbf", notBefore) }
        payload.endObject()

        let signingInput = Base64URL.encode(header.bytes) + "." + Base64URL.encode(payload.bytes)
        return signingInput + "." + Base64URL.encode(key.signature(for: Array(signingInput.utf8)))
    }
}
