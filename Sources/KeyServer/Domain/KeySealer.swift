import AuthStackCore
import Crypto
import Foundation

/// Encrypts key secrets (HS256 secrets and Ed25519 private keys alike) at rest with AES-256-GCM under the master key,
/// the key's `kid` as associated data (docs/design.md §4), so a sealed secret cannot be moved to another row without
/// failing authentication.
///
/// Sealed form: `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`, a fresh random nonce per seal. Opening with the wrong
/// master key or the wrong `kid` fails authentication: the key service reports that as a start-up error instead of
/// serving garbage keys.
public struct KeySealer: Sendable {
    /// Why a sealed secret could not be opened.
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// The master key is not 32 bytes of base64url.
        case invalidMasterKey
        /// Authentication failed: wrong master key, wrong `kid`, or tampered data.
        case authenticationFailed(kid: String)

        /// A message for the operator that names the key but never the secret.
        public var description: String {
            switch self {
            case .invalidMasterKey: "the master key must be 32 bytes, base64url-encoded (see keys/README.md)"
            case .authenticationFailed(let kid):
                "cannot decrypt key \(kid): wrong master key, or the stored key was altered"
            }
        }
    }

    private let masterKey: SymmetricKey

    /// A sealer for a 256-bit master key.
    public init(masterKey: SecretBytes) throws(Failure) {
        guard masterKey.count == 32 else { throw .invalidMasterKey }
        self.masterKey = SymmetricKey(data: masterKey.bytes)
    }

    /// A sealer for the contents of `keys/master.key` (base64url of 32 bytes; surrounding whitespace ignored).
    public init(masterKeyFile contents: String) throws(Failure) {
        guard let bytes = Base64URL.decode(contents.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw .invalidMasterKey }
        try self.init(masterKey: SecretBytes(bytes))
    }

    /// Encrypts `secret`, binding it to `kid`.
    public func seal(_ secret: SecretBytes, kid: String) -> [UInt8] {
        // AES-GCM with a fresh 96-bit random nonce cannot fail for inputs of this size.
        let box = try! AES.GCM.seal(secret.bytes, using: masterKey, nonce: AES.GCM.Nonce(), authenticating: Array(kid.utf8))
        return Array(box.combined!)
    }

    /// Decrypts a sealed secret of `kid`.
    public func open(_ sealed: [UInt8], kid: String) throws(Failure) -> SecretBytes {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return SecretBytes(Array(try AES.GCM.open(box, using: masterKey, authenticating: Array(kid.utf8))))
        } catch {
            throw .authenticationFailed(kid: kid)
        }
    }
}
