/// Header member names and values the policy looks for, as packed constants (checked in `StrictJSONLiteralTests`).
enum HeaderLiteral {
    static var alg: StrictJSON.Literal { .init(prefix: 0x67_6c_61, length: 3) }
    static var typ: StrictJSON.Literal { .init(prefix: 0x70_79_74, length: 3) }
    static var kid: StrictJSON.Literal { .init(prefix: 0x64_69_6b, length: 3) }
    static var crit: StrictJSON.Literal { .init(prefix: 0x74_69_72_63, length: 4) }
    static var b64: StrictJSON.Literal { .init(prefix: 0x34_36_62, length: 3) }
    static var hs256: StrictJSON.Literal { .init(prefix: 0x36_35_32_53_48, length: 5) }
    static var edDSA: StrictJSON.Literal { .init(prefix: 0x41_53_44_64_45, length: 5) }
}

extension AccessTokenVerifier {
    /// The JOSE header members the policy looks at.
    private struct HeaderFields {
        var alg: StrictJSON.Value?
        var typ: StrictJSON.Value?
        var kid: StrictJSON.Value?
        var hasCritical = false
        var b64: StrictJSON.Value?
    }

    /// Decodes and checks the header, then returns the key its `kid` names, which must be of the header's `alg`.
    static func readHeader(_ segment: UnsafeBufferPointer<UInt8>, keys: VerificationKeySet) throws(TokenRejection) -> VerificationKeySet.KeyReference
    {
        try withDecodedSegment(segment) { (json) throws(TokenRejection) in try checkHeader(json, keys: keys) }
    }

    private static func checkHeader(
        _ json: UnsafeBufferPointer<UInt8>,
        keys: VerificationKeySet
    ) throws(TokenRejection) -> VerificationKeySet.KeyReference {
        var fields = HeaderFields()
        do {
            try StrictJSON.forEachMember(of: json) { name, value in
                if name.matches(HeaderLiteral.alg) {
                    fields.alg = value
                } else if name.matches(HeaderLiteral.typ) {
                    fields.typ = value
                } else if name.matches(HeaderLiteral.kid) {
                    fields.kid = value
                } else if name.matches(HeaderLiteral.crit) {
                    fields.hasCritical = true
                } else if name.matches(HeaderLiteral.b64) {
                    fields.b64 = value
                }
            }
        } catch {
            throw .malformedHeader
        }
        guard case .string(let alg)? = fields.alg else { throw .unsupportedAlgorithm }
        let algorithm: KeyAlgorithm
        if alg.matches(HeaderLiteral.hs256) {
            algorithm = .hs256
        } else if alg.matches(HeaderLiteral.edDSA) {
            algorithm = .edDSA
        } else {
            throw .unsupportedAlgorithm
        }
        guard case .string(let typ)? = fields.typ, isAccessTokenType(typ, in: json) else { throw .wrongType }
        guard !fields.hasCritical else { throw .unsupportedHeaderParameter }
        if let b64 = fields.b64 {
            guard case .bool(true) = b64 else { throw .unsupportedHeaderParameter }
        }
        guard case .string(let kid)? = fields.kid else { throw .missingKeyID }
        guard kid.hasEscapes else {
            return try keys.reference(forKeyID: UnsafeBufferPointer(rebasing: json[kid.start..<kid.end]), algorithm: algorithm)
        }
        let unescaped = StrictJSON.bytes(of: kid, in: json)
        return try unescaped.withUnsafeBufferPointer { (kid) throws(TokenRejection) in try keys.reference(forKeyID: kid, algorithm: algorithm) }
    }

    /// `typ` is a media type, compared case-insensitively (RFC 7515 §4.1.9); RFC 9068 allows both spellings.
    private static func isAccessTokenType(_ typ: StrictJSON.StringRef, in json: UnsafeBufferPointer<UInt8>) -> Bool {
        guard typ.hasEscapes else { return isAccessTokenType(UnsafeBufferPointer(rebasing: json[typ.start..<typ.end])) }
        return StrictJSON.bytes(of: typ, in: json).withUnsafeBufferPointer { isAccessTokenType($0) }
    }

    private static func isAccessTokenType(_ value: UnsafeBufferPointer<UInt8>) -> Bool {
        asciiCaseInsensitiveEquals(value, "at+jwt") || asciiCaseInsensitiveEquals(value, "application/at+jwt")
    }

    private static func asciiCaseInsensitiveEquals(_ value: UnsafeBufferPointer<UInt8>, _ lowercase: StaticString) -> Bool {
        guard value.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        for index in 0..<value.count {
            let byte = value[index]
            let folded = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
            if folded != expected[index] { return false }
        }
        return true
    }
}
