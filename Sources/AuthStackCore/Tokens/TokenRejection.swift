/// Why an access token was rejected.
///
/// The precise reason is for tests, logs and metrics; clients only ever see ``problemCode``: `invalid_token`, or
/// `token_expired` for a token that passed every check except `exp` (docs/design.md §2).
public enum TokenRejection: Error, Equatable, Sendable {
    /// Longer than the policy's maximum length.
    case tooLong
    /// Not three non-empty base64url segments without padding.
    case malformed
    /// The header is not a strict JSON object.
    case malformedHeader
    /// `alg` missing, not exactly `HS256` or `EdDSA` (this rejects `none`, `HS512`, `RS256`, … in every spelling), or
    /// not the algorithm of the key its `kid` names (no HS256/EdDSA confusion).
    case unsupportedAlgorithm
    /// `typ` missing or not `at+jwt` / `application/at+jwt` (RFC 9068 §2.1).
    case wrongType
    /// The header has `crit` (we understand no extensions, RFC 7515 §4.1.11) or `b64` other than `true` (RFC 7797).
    case unsupportedHeaderParameter
    /// `kid` missing or not a string.
    case missingKeyID
    /// `kid` names no key this verifier holds.
    case unknownKeyID
    /// The MAC does not match.
    case badSignature
    /// The payload is not a strict JSON object (syntax, duplicate members, invalid UTF-8, too deep).
    case malformedPayload
    /// A required claim is missing: `iss`, `aud`, `sub`, `iat` or `exp`.
    case missingClaim(String)
    /// A claim has the wrong type or an invalid value (non-string, empty or U+0000-holding `sub`, number beyond ±2^53, …).
    case invalidClaim(String)
    /// `iss` is not the configured issuer.
    case wrongIssuer
    /// `aud` does not contain this verifier's audience.
    case wrongAudience
    /// `iat` is later than now + leeway.
    case issuedInFuture
    /// `nbf` is later than now + leeway.
    case notYetValid
    /// now ≥ `exp` + leeway, and every other check passed.
    case expired

    /// The stable problem code a client sees.
    public var problemCode: ProblemCode {
        self == .expired ? .tokenExpired : .invalidToken
    }
}
