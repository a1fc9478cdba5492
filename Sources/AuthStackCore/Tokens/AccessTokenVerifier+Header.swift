extension AccessTokenVerifier {
    /// The JOSE header members the policy looks at.
    private struct HeaderFields {
        var alg: StrictJSON.Value?
        var typ: StrictJSON.Value?
        var kid: StrictJSON.Value?
        var hasCritical = false
        var b64: StrictJSON.Value?
    }

    /// Decodes and checks the header, then returns the held key its `kid` names.
    static func readHeader(_ segment: UnsafeBufferPointer<UInt8>, keys: VerificationKeySet) throws(TokenRejection) -> HS256Key {
        guard let length = Base64URL.decodedLength(ofEncodedLength: segment.count) else { throw .malformed }
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: length) { buffer in
            Result { () throws(TokenRejection) -> HS256Key in
                guard Base64URL.decode(segment, into: buffer) == length else { throw .malformed }
                return try checkHeader(UnsafeBufferPointer(buffer), keys: keys)
            }
        }.get()
    }

    private static func checkHeader(_ json: UnsafeBufferPointer<UInt8>, keys: VerificationKeySet) throws(TokenRejection) -> HS256Key {
        var fields = HeaderFields()
        do {
            try StrictJSON.forEachMember(of: json) { name, value in
                if StrictJSON.string(name, in: json, equals: "alg") {
                    fields.alg = value
                } else if StrictJSON.string(name, in: json, equals: "typ") {
                    fields.typ = value
                } else if StrictJSON.string(name, in: json, equals: "kid") {
                    fields.kid = value
                } else if StrictJSON.string(name, in: json, equals: "crit") {
                    fields.hasCritical = true
                } else if StrictJSON.string(name, in: json, equals: "b64") {
                    fields.b64 = value
                }
            }
        } catch {
            throw .malformedHeader
        }
        guard case .string(let alg)? = fields.alg, StrictJSON.string(alg, in: json, equals: "HS256") else {
            throw .unsupportedAlgorithm
        }
        guard case .string(let typ)? = fields.typ, isAccessTokenType(typ, in: json) else { throw .wrongType }
        guard !fields.hasCritical else { throw .unsupportedHeaderParameter }
        if let b64 = fields.b64, case .bool(true) = b64 {} else if fields.b64 != nil { throw .unsupportedHeaderParameter }
        guard case .string(let kid)? = fields.kid else { throw .missingKeyID }
        let key: HS256Key?
        if kid.hasEscapes {
            key = StrictJSON.bytes(of: kid, in: json).withUnsafeBufferPointer { keys.key(forKeyID: $0) }
        } else {
            key = keys.key(forKeyID: UnsafeBufferPointer(rebasing: json[kid.start..<kid.end]))
        }
        guard let key else { throw .unknownKeyID }
        return key
    }

    /// `typ` is a media type, compared case-insensitively (RFC 7515 §4.1.9); RFC 9068 allows both spellings.
    private static func isAccessTokenType(_ typ: StrictJSON.StringRef, in json: UnsafeBufferPointer<UInt8>) -> Bool {
        let value = StrictJSON.bytes(of: typ, in: json).map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
        return value.elementsEqual("at+jwt".utf8) || value.elementsEqual("application/at+jwt".utf8)
    }
}
