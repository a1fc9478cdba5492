/// The set of keys (HS256 or EdDSA) a verifier holds and a signer signs with, as distributed by the key service.
///
/// A value that is valid by construction: exactly one `current` key, unique `kid`s, HS256 secrets of at least 32
/// bytes, EdDSA public keys of 32 bytes with, if present, the private key that belongs to them, at most
/// ``maximumVerifyingKeys`` keys. The pre-keyed verification set and signing key are built once here, so
/// the request path only reads them.
public struct Keyring: Sendable {
    /// Most keys that verify at once (docs/design.md §5: a rotation beyond it is `keyring_full`).
    public static let maximumVerifyingKeys = 32

    /// Why a keyring was refused.
    public enum Failure: Error, Equatable, Sendable {
        /// No key has status `current`.
        case noCurrentKey
        /// More than one key has status `current`.
        case multipleCurrentKeys
        /// Two keys share this `kid`.
        case duplicateKeyID(String)
        /// The key with this `kid` has a secret under 32 bytes.
        case secretTooShort(String)
        /// A `kid` is empty, too long or uses characters outside `[A-Za-z0-9._~-]`.
        case invalidKeyID
        /// The key with this `kid` has material that does not fit its algorithm: an HS256 key with a public key, an
        /// EdDSA public or private key that is not 32 bytes, or a private key that does not belong to its public key.
        case invalidKeyMaterial(String)
        /// More than ``Keyring/maximumVerifyingKeys`` keys.
        case tooManyKeys
        /// `current_kid` does not name the key whose status is `current`.
        case currentKeyIDMismatch
        /// The JWK set document is malformed (the message says what; it never contains key material).
        case malformedDocument(String)
    }

    /// Monotonic version, bumped by the key service on every change.
    public let version: Int
    /// The keys in the order given.
    public let keys: [KeyringKey]
    /// The one key that signs.
    public let currentKey: KeyringKey
    /// The current key, ready to sign; `nil` in a verifier's keyring whose current key is EdDSA (no private key).
    public let signingKey: AccessTokenSigningKey?
    /// All keys, ready to verify.
    public let verificationKeys: VerificationKeySet

    /// Validates the invariants and prepares the keys.
    public init(version: Int, keys: [KeyringKey]) throws(Failure) {
        guard keys.count <= Self.maximumVerifyingKeys else { throw .tooManyKeys }
        var seen = Set<String>()
        var hs256Keys: [HS256Key] = []
        var edDSAKeys: [EdDSAKey] = []
        var signingKeys: [AccessTokenSigningKey?] = []
        for key in keys {
            guard seen.insert(key.kid).inserted else { throw .duplicateKeyID(key.kid) }
            switch key.algorithm {
            case .hs256:
                let prepared = try Self.hs256Key(key)
                hs256Keys.append(prepared)
                signingKeys.append(AccessTokenSigningKey(prepared))
            case .edDSA:
                let prepared = try Self.edDSAKey(key)
                edDSAKeys.append(prepared)
                signingKeys.append(AccessTokenSigningKey(prepared))
            }
        }
        let current = keys.indices.filter { keys[$0].status == .current }
        guard let first = current.first else { throw .noCurrentKey }
        guard current.count == 1 else { throw .multipleCurrentKeys }
        self.version = version
        self.keys = keys
        self.currentKey = keys[first]
        self.signingKey = signingKeys[first]
        self.verificationKeys = VerificationKeySet(hs256Keys, edDSAKeys: edDSAKeys)
    }

    private static func hs256Key(_ key: KeyringKey) throws(Failure) -> HS256Key {
        // An HS256 key is its secret alone; a public key beside it would be a confused record.
        guard key.publicKey.isEmpty else { throw .invalidKeyMaterial(key.kid) }
        do {
            return try HS256Key(kid: key.kid, secret: key.secret)
        } catch .secretTooShort {
            throw .secretTooShort(key.kid)
        } catch {
            throw .invalidKeyID
        }
    }

    private static func edDSAKey(_ key: KeyringKey) throws(Failure) -> EdDSAKey {
        do {
            return try EdDSAKey(kid: key.kid, publicKey: key.publicKey, privateKey: key.secret.count == 0 ? nil : key.secret)
        } catch .invalidKeyID {
            throw .invalidKeyID
        } catch {
            throw .invalidKeyMaterial(key.kid)
        }
    }

    /// The key with status `next`, if the keyring has one.
    public var nextKey: KeyringKey? { keys.first { $0.status == .next } }
}
