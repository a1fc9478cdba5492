/// The set of HS256 keys a verifier holds and a signer signs with, as distributed by the key service.
///
/// A value that is valid by construction: exactly one `current` key, unique `kid`s, secrets of at least 32 bytes,
/// at most ``maximumVerifyingKeys`` keys. The pre-keyed verification set and signing key are built once here, so
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
    /// The current key, ready to sign.
    public let signingKey: HS256Key
    /// All keys, ready to verify.
    public let verificationKeys: VerificationKeySet

    /// Validates the invariants and prepares the keys.
    public init(version: Int, keys: [KeyringKey]) throws(Failure) {
        guard keys.count <= Self.maximumVerifyingKeys else { throw .tooManyKeys }
        var seen = Set<String>()
        var prepared: [HS256Key] = []
        for key in keys {
            guard seen.insert(key.kid).inserted else { throw .duplicateKeyID(key.kid) }
            do {
                prepared.append(try HS256Key(kid: key.kid, secret: key.secret))
            } catch .secretTooShort {
                throw .secretTooShort(key.kid)
            } catch {
                throw .invalidKeyID
            }
        }
        let current = keys.indices.filter { keys[$0].status == .current }
        guard let first = current.first else { throw .noCurrentKey }
        guard current.count == 1 else { throw .multipleCurrentKeys }
        self.version = version
        self.keys = keys
        self.currentKey = keys[first]
        self.signingKey = prepared[first]
        self.verificationKeys = VerificationKeySet(prepared)
    }

    /// The key with status `next`, if the keyring has one.
    public var nextKey: KeyringKey? { keys.first { $0.status == .next } }
}
