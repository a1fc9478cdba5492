/// Claim names the policy reads, as packed constants (checked in `StrictJSONLiteralTests`).
enum ClaimLiteral {
    static var iss: StrictJSON.Literal { .init(prefix: 0x73_73_69, length: 3) }
    static var aud: StrictJSON.Literal { .init(prefix: 0x64_75_61, length: 3) }
    static var sub: StrictJSON.Literal { .init(prefix: 0x62_75_73, length: 3) }
    static var sid: StrictJSON.Literal { .init(prefix: 0x64_69_73, length: 3) }
    static var jti: StrictJSON.Literal { .init(prefix: 0x69_74_6a, length: 3) }
    static var iat: StrictJSON.Literal { .init(prefix: 0x74_61_69, length: 3) }
    static var exp: StrictJSON.Literal { .init(prefix: 0x70_78_65, length: 3) }
    static var nbf: StrictJSON.Literal { .init(prefix: 0x66_62_6e, length: 3) }
    static var username: StrictJSON.Literal { .init(prefix: 0x65_6d_61_6e_72_65_73_75, length: 8) }
}

extension AccessTokenVerifier {
    /// Largest magnitude a NumericDate may have: beyond 2^53 a double no longer holds every integer second.
    static let numericDateLimit: Double = 9_007_199_254_740_992

    /// The registered and AuthStack claims the policy looks at, as found in the payload.
    private struct ClaimFields {
        var iss, aud, sub, username, sid, jti, iat, exp, nbf: StrictJSON.Value?
    }

    /// Decodes the payload and converts it to typed claims (types checked, values not yet compared to the policy).
    static func readClaims(_ segment: UnsafeBufferPointer<UInt8>) throws(TokenRejection) -> AccessTokenClaims {
        try withDecodedSegment(segment) { (json) throws(TokenRejection) in try typedClaims(try claimFields(json), in: json) }
    }

    private static func claimFields(_ json: UnsafeBufferPointer<UInt8>) throws(TokenRejection) -> ClaimFields {
        var fields = ClaimFields()
        do {
            try StrictJSON.forEachMember(of: json) { (name, value) throws(StrictJSON.Failure) in
                // Escaped spellings ("\u0065xp") have the same prefix and length as the plain ones, so they count too.
                switch name.length {
                case 3:
                    if name.matches(ClaimLiteral.iss) {
                        fields.iss = value
                    } else if name.matches(ClaimLiteral.aud) {
                        fields.aud = value
                    } else if name.matches(ClaimLiteral.sub) {
                        fields.sub = value
                    } else if name.matches(ClaimLiteral.sid) {
                        fields.sid = value
                    } else if name.matches(ClaimLiteral.jti) {
                        fields.jti = value
                    } else if name.matches(ClaimLiteral.iat) {
                        fields.iat = value
                    } else if name.matches(ClaimLiteral.exp) {
                        fields.exp = value
                    } else if name.matches(ClaimLiteral.nbf) {
                        fields.nbf = value
                    }
                case 8:
                    if name.matches(ClaimLiteral.username) { fields.username = value }
                default:
                    break
                }
            }
        } catch {
            throw .malformedPayload
        }
        return fields
    }

    private static func typedClaims(_ fields: ClaimFields, in json: UnsafeBufferPointer<UInt8>) throws(TokenRejection) -> AccessTokenClaims {
        guard let issuer = try string(fields.iss, "iss", in: json) else { throw .missingClaim("iss") }
        guard let audience = try audience(fields.aud, in: json) else { throw .missingClaim("aud") }
        guard let subject = try string(fields.sub, "sub", in: json) else { throw .missingClaim("sub") }
        // The subject is the key the services look their rows up by: U+0000 cannot be one (PostgreSQL `text` cannot hold
        // it, and no AuthStack id contains it), so such a token is invalid here, before any database sees it.
        guard !subject.isEmpty, !subject.utf8.contains(0) else { throw .invalidClaim("sub") }
        guard let issuedAt = try numericDate(fields.iat, "iat") else { throw .missingClaim("iat") }
        guard let expiresAt = try numericDate(fields.exp, "exp") else { throw .missingClaim("exp") }
        return AccessTokenClaims(
            issuer: issuer,
            audience: audience,
            subject: subject,
            username: try string(fields.username, "username", in: json),
            sessionID: try string(fields.sid, "sid", in: json),
            tokenID: try string(fields.jti, "jti", in: json),
            issuedAt: issuedAt,
            expiresAt: expiresAt,
            notBefore: try numericDate(fields.nbf, "nbf")
        )
    }

    private static func string(_ value: StrictJSON.Value?, _ name: String, in json: UnsafeBufferPointer<UInt8>) throws(TokenRejection) -> String? {
        guard let value else { return nil }
        guard case .string(let ref) = value else { throw .invalidClaim(name) }
        return StrictJSON.string(of: ref, in: json)
    }

    /// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
    private static func audience(_ value: StrictJSON.Value?, in json: UnsafeBufferPointer<UInt8>) throws(TokenRejection) -> [String]? {
        switch value {
        case nil: return nil
        case .string(let ref)?: return [StrictJSON.string(of: ref, in: json)]
        case .array(let range)?:
            var audiences: [String] = []
            var allStrings = true
            try? StrictJSON.forEachElement(ofArray: range, in: json) { element in
                if case .string(let ref) = element { audiences.append(StrictJSON.string(of: ref, in: json)) } else { allStrings = false }
            }
            guard allStrings else { throw .invalidClaim("aud") }
            return audiences
        default: throw .invalidClaim("aud")
        }
    }

    /// A NumericDate: a finite JSON number, fractions allowed, |value| < 2^53.
    private static func numericDate(_ value: StrictJSON.Value?, _ name: String) throws(TokenRejection) -> Double? {
        guard let value else { return nil }
        guard case .number(let seconds) = value, seconds.isFinite, abs(seconds) < numericDateLimit else { throw .invalidClaim(name) }
        return seconds
    }
}
