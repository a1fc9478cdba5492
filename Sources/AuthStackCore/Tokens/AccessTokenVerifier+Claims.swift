extension AccessTokenVerifier {
    /// Largest magnitude a NumericDate may have: beyond 2^53 a double no longer holds every integer second.
    static let numericDateLimit: Double = 9_007_199_254_740_992

    /// The registered and AuthStack claims the policy looks at, as found in the payload.
    private struct ClaimFields {
        var iss, aud, sub, username, sid, jti, iat, exp, nbf: StrictJSON.Value?
    }

    /// Decodes the payload and converts it to typed claims (types checked, values not yet compared to the policy).
    static func readClaims(_ segment: UnsafeBufferPointer<UInt8>) throws(TokenRejection) -> AccessTokenClaims {
        guard let length = Base64URL.decodedLength(ofEncodedLength: segment.count) else { throw .malformed }
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: length) { buffer in
            Result { () throws(TokenRejection) -> AccessTokenClaims in
                guard Base64URL.decode(segment, into: buffer) == length else { throw .malformed }
                let json = UnsafeBufferPointer(buffer)
                return try typedClaims(try claimFields(json), in: json)
            }
        }.get()
    }

    private static func claimFields(_ json: UnsafeBufferPointer<UInt8>) throws(TokenRejection) -> ClaimFields {
        var fields = ClaimFields()
        do {
            try StrictJSON.forEachMember(of: json) { (name, value) throws(StrictJSON.Failure) in
                switch name.end - name.start {
                case 3:
                    if StrictJSON.string(name, in: json, equals: "iss") { fields.iss = value }
                    else if StrictJSON.string(name, in: json, equals: "aud") { fields.aud = value }
                    else if StrictJSON.string(name, in: json, equals: "sub") { fields.sub = value }
                    else if StrictJSON.string(name, in: json, equals: "sid") { fields.sid = value }
                    else if StrictJSON.string(name, in: json, equals: "jti") { fields.jti = value }
                    else if StrictJSON.string(name, in: json, equals: "iat") { fields.iat = value }
                    else if StrictJSON.string(name, in: json, equals: "exp") { fields.exp = value }
                    else if StrictJSON.string(name, in: json, equals: "nbf") { fields.nbf = value }
                default:
                    if StrictJSON.string(name, in: json, equals: "username") { fields.username = value }
                    // Escaped spellings of the three-letter names ("\u0065xp") land here and must not be ignored.
                    else if name.hasEscapes { try assign(name, value, in: json, to: &fields) }
                }
            }
        } catch {
            throw .malformedPayload
        }
        return fields
    }

    private static func assign(
        _ name: StrictJSON.StringRef,
        _ value: StrictJSON.Value,
        in json: UnsafeBufferPointer<UInt8>,
        to fields: inout ClaimFields
    ) throws(StrictJSON.Failure) {
        switch StrictJSON.string(of: name, in: json) {
        case "iss": fields.iss = value
        case "aud": fields.aud = value
        case "sub": fields.sub = value
        case "sid": fields.sid = value
        case "jti": fields.jti = value
        case "iat": fields.iat = value
        case "exp": fields.exp = value
        case "nbf": fields.nbf = value
        default: break
        }
    }

    private static func typedClaims(_ fields: ClaimFields, in json: UnsafeBufferPointer<UInt8>) throws(TokenRejection) -> AccessTokenClaims {
        guard let issuer = try string(fields.iss, "iss", in: json) else { throw .missingClaim("iss") }
        guard let audience = try audience(fields.aud, in: json) else { throw .missingClaim("aud") }
        guard let subject = try string(fields.sub, "sub", in: json) else { throw .missingClaim("sub") }
        guard !subject.isEmpty else { throw .invalidClaim("sub") }
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
