import Foundation

/// The keyring's wire format (docs/design.md §5): `{"version", "current_kid", "keys":[JWK]}` where each JWK is an RFC 7517
/// octet key (`kty` `oct`, `k` base64url without padding, `alg` `HS256`, `use` `sig`) plus `status` and RFC 3339
/// timestamps, so that any JOSE library can load the keys.
extension Keyring {
    /// One key as an RFC 7517 JWK with AuthStack's status members.
    struct JWK: Codable {
        var kty: String
        var kid: String
        var alg: String?
        var use: String?
        var k: String
        var status: String
        var createdAt: Date
        var activatedAt: Date?
        var retireAt: Date?

        enum CodingKeys: String, CodingKey {
            case kty, kid, alg, use, k, status
            case createdAt = "created_at"
            case activatedAt = "activated_at"
            case retireAt = "retire_at"
        }
    }

    /// The whole document.
    struct Document: Codable {
        var version: Int
        var currentKid: String
        var keys: [JWK]

        enum CodingKeys: String, CodingKey {
            case version
            case currentKid = "current_kid"
            case keys
        }
    }

    /// Encodes the keyring as the JWK set document. The result contains secrets: send it only to authenticated clients.
    public func jwkSetJSON() -> [UInt8] {
        let document = Document(
            version: version,
            currentKid: currentKey.kid,
            keys: keys.map { key in
                JWK(
                    kty: "oct",
                    kid: key.kid,
                    alg: "HS256",
                    use: "sig",
                    k: Base64URL.encode(key.secret.bytes),
                    status: key.status.rawValue,
                    createdAt: key.createdAt,
                    activatedAt: key.activatedAt,
                    retireAt: key.retireAt
                )
            }
        )
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain strings, integers and dates cannot fail.
        return Array((try? encoder.encode(document)) ?? Data())
    }

    /// Decodes and validates a JWK set document.
    public init(jwkSetJSON bytes: some Collection<UInt8>) throws(Failure) {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let document: Document
        do {
            document = try decoder.decode(Document.self, from: Data(bytes))
        } catch {
            throw .malformedDocument("not a keyring document: \(Self.describe(error))")
        }
        var keys: [KeyringKey] = []
        for jwk in document.keys {
            guard jwk.kty == "oct" else { throw .malformedDocument("key \(jwk.kid): kty must be oct") }
            guard jwk.alg == nil || jwk.alg == "HS256" else { throw .malformedDocument("key \(jwk.kid): alg must be HS256") }
            guard jwk.use == nil || jwk.use == "sig" else { throw .malformedDocument("key \(jwk.kid): use must be sig") }
            guard let secret = Base64URL.decode(jwk.k) else { throw .malformedDocument("key \(jwk.kid): k is not base64url") }
            guard let status = KeyStatus(rawValue: jwk.status) else { throw .malformedDocument("key \(jwk.kid): unknown status") }
            keys.append(
                KeyringKey(
                    kid: jwk.kid,
                    secret: SecretBytes(secret),
                    status: status,
                    createdAt: jwk.createdAt,
                    activatedAt: jwk.activatedAt,
                    retireAt: jwk.retireAt
                )
            )
        }
        try self.init(version: document.version, keys: keys)
        guard currentKey.kid == document.currentKid else { throw .currentKeyIDMismatch }
    }

    /// A description of a decoding error that names the path but never echoes values (which may be secrets).
    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "invalid JSON" }
        switch error {
        case .keyNotFound(let key, let context): return "missing \(Self.path(context.codingPath + [key]))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "invalid JSON" : "invalid \(Self.path(context.codingPath))"
        @unknown default: return "invalid JSON"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }
}
