/// What a verifier requires of an access token beyond its signature (docs/design.md §2).
public struct TokenVerificationPolicy: Sendable, Equatable {
    /// Longest accepted compact token, in bytes (8 KiB).
    public static let defaultMaximumLength = 8192
    /// Default clock-skew leeway: 30 s (a 1 s tolerance proved too strict at PostgREST and Supabase).
    public static let defaultLeeway: Double = 30
    /// The leeway a setting may choose: 0 to 5 minutes. More would keep expired tokens alive for longer than a clock
    /// that far off deserves.
    public static let leewayRange: ClosedRange<Double> = 0...300

    /// `iss` must equal this.
    public var issuer: String
    /// `aud` must contain this: `notes` for the notes service, `identity` for identity's bearer endpoints.
    public var audience: String
    /// Leeway in seconds applied to `exp`, `iat` and `nbf`.
    public var leeway: Double
    /// Longest accepted token.
    public var maximumLength: Int

    /// A policy for one verifying service.
    public init(
        issuer: String = "authstack",
        audience: String,
        leeway: Double = TokenVerificationPolicy.defaultLeeway,
        maximumLength: Int = TokenVerificationPolicy.defaultMaximumLength
    ) {
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.maximumLength = maximumLength
    }
}
