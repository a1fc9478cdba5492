import Foundation

/// The keyring's wire format (docs/design.md §5): `{"version", "current_kid", "keys":[JWK]}` where each JWK is an RFC 7517
/// octet key (`kty` `oct`, `k` base64url without padding, `alg` `HS256`, `use` `sig`) or an RFC 8037 Ed25519 key
/// (`kty` `OKP`, `crv` `Ed25519`, `x`, `d` for signers only, `alg` `EdDSA`, `use` `sig`), plus `status` and RFC 3339
/// timestamps, so that any JOSE library can load the keys.
extension Keyring {
    /// One key as an RFC 7517 JWK with AuthStack's status members.
    struct JWK: Codable {
        var kty: String
        var kid: String
        var alg: String?
        var use: String?
        var crv: String?
        var k: String?
        var x: String?
        var d: String?
        var status: String
        var createdAt: Date
        var activatedAt: Date?
        var retireAt: Date?

        enum CodingKeys: String, CodingKey {
            case kty, kid, alg, use, crv, k, x, d, status
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
    /// With `includingPrivateKeys` false, EdDSA keys go without `d` (a verifier's keyring); HS256 keys always carry
    /// `k`, which verifying needs.
    public func jwkSetJSON(includingPrivateKeys: Bool = true) -> [UInt8] {
        let document = Document(
            version: version,
            currentKid: currentKey.kid,
            keys: keys.map { key in Self.jwk(key, includingPrivateKey: includingPrivateKeys) }
        )
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain strings, integers and dates cannot fail.
        return Array((try? encoder.encode(document)) ?? Data())
    }

    private static func jwk(_ key: KeyringKey, includingPrivateKey: Bool) -> JWK {
        var jwk = JWK(
            kty: "oct",
            kid: key.kid,
            alg: key.algorithm.rawValue,
            use: "sig",
            status: key.status.rawValue,
            createdAt: key.createdAt,
            activatedAt: key.activatedAt,
            retireAt: key.retireAt
        )
        switch key.algorithm {
        case .hs256:
            jwk.k = Base64URL.encode(key.secret.bytes)
        case .edDSA:
            jwk.kty = "OKP"
            jwk.crv = "Ed25519"
            jwk.x = Base64URL.encode(key.publicKey)
            if includingPrivateKey, key.secret.count > 0 { jwk.d = Base64URL.encode(key.secret.bytes) }
        }
        return jwk
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
            guard jwk.use == nil || jwk.use == "sig" else { throw .malformedDocument("key \(jwk.kid): use must be sig") }
            guard let status = KeyStatus(rawValue: jwk.status) else { throw .malformedDocument("key \(jwk.kid): unknown status") }
            let (algorithm, secret, publicKey) = try Self.material(of: jwk)
            keys.append(
                KeyringKey(
                    kid: jwk.kid,
                    algorithm: algorithm,
                    secret: secret,
                    publicKey: publicKey,
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

    /// The algorithm and key material of a JWK: an `oct` key with `k` is HS256, an `OKP` key on `Ed25519` with `x` (and
    /// `d` for a signer) is EdDSA; members of the other kind, another `kty`, `crv` or `alg` are refused. Lengths and
    /// whether `d` belongs to `x` are checked when the keyring prepares the key.
    private static func material(of jwk: JWK) throws(Failure) -> (KeyAlgorithm, SecretBytes, [UInt8]) {
        switch jwk.kty {
        case "oct":
            guard jwk.alg == nil || jwk.alg == KeyAlgorithm.hs256.rawValue else { throw .malformedDocument("key \(jwk.kid): alg must be HS256") }
            guard jwk.crv == nil, jwk.x == nil, jwk.d == nil else { throw .malformedDocument("key \(jwk.kid): an oct key has only k") }
            guard let k = jwk.k, let secret = Base64URL.decode(k) else { throw .malformedDocument("key \(jwk.kid): k is not base64url") }
            return (.hs256, SecretBytes(secret), [])
        case "OKP":
            guard jwk.crv == "Ed25519" else { throw .malformedDocument("key \(jwk.kid): crv must be Ed25519") }
            guard jwk.alg == nil || jwk.alg == KeyAlgorithm.edDSA.rawValue else { throw .malformedDocument("key \(jwk.kid): alg must be EdDSA") }
            guard jwk.k == nil else { throw .malformedDocument("key \(jwk.kid): an OKP key has no k") }
            guard let x = jwk.x, let publicKey = Base64URL.decode(x) else { throw .malformedDocument("key \(jwk.kid): x is not base64url") }
            guard let d = jwk.d else { return (.edDSA, SecretBytes([]), publicKey) }
            guard let privateKey = Base64URL.decode(d), !privateKey.isEmpty else { throw .malformedDocument("key \(jwk.kid): d is not base64url") }
            return (.edDSA, SecretBytes(privateKey), publicKey)
        default:
            throw .malformedDocument("key \(jwk.kid): kty must be oct or OKP")
        }
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
