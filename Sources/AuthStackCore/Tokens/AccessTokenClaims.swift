import Foundation

/// The claims of an AuthStack access token (docs/design.md §2).
public struct AccessTokenClaims: Sendable, Equatable {
    /// `iss`: the configured issuer.
    public var issuer: String
    /// `aud`: the services this token is for (each service checks for its own name).
    public var audience: [String]
    /// `sub`: the user id, an opaque non-empty string.
    public var subject: String
    /// `username` as signed up; optional for the verifier, always set by the signer.
    public var username: String?
    /// `sid`: the session (refresh-token family) this token belongs to.
    public var sessionID: String?
    /// `jti`: unique token id.
    public var tokenID: String?
    /// `iat`, seconds since the epoch (fractions allowed).
    public var issuedAt: Double
    /// `exp`, seconds since the epoch.
    public var expiresAt: Double
    /// `nbf`, seconds since the epoch, when present.
    public var notBefore: Double?

    /// Creates a claim set.
    public init(
        issuer: String,
        audience: [String],
        subject: String,
        username: String? = nil,
        sessionID: String? = nil,
        tokenID: String? = nil,
        issuedAt: Double,
        expiresAt: Double,
        notBefore: Double? = nil
    ) {
        self.issuer = issuer
        self.audience = audience
        self.subject = subject
        self.username = username
        self.sessionID = sessionID
        self.tokenID = tokenID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.notBefore = notBefore
    }
}
