import Crypto
import Foundation

/// An Ed25519 key (RFC 8037) for EdDSA access tokens: a `kid`, the public key, and the private key only where the
/// keyring is a signer's.
///
/// Prints only its `kid`: the private key never appears in a description, a debug description or a mirror.
public struct EdDSAKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Length of an Ed25519 public key, of its private key (the RFC 8032 seed), in bytes.
    public static let keyLength = 32
    /// Length of an Ed25519 signature, in bytes.
    public static let signatureLength = 64

    /// Why a key was refused.
    public enum Failure: Error, Equatable, Sendable {
        /// The `kid` is empty, too long or has characters outside `[A-Za-z0-9._~-]`.
        case invalidKeyID
        /// The public key (`x`) is not 32 bytes.
        case invalidPublicKey
        /// The private key (`d`) is not 32 bytes.
        case invalidPrivateKey
        /// The private key does not belong to the public key.
        case privateKeyMismatch
    }

    /// The key identifier carried in the JWS header.
    public let kid: String
    /// The public key, for verification.
    public let publicKey: Curve25519.Signing.PublicKey
    /// The private key; present only in a signer's keyring.
    let privateKey: Curve25519.Signing.PrivateKey?
    @usableFromInline let kidBytes: [UInt8]

    /// A key from its raw public key and, for a signer, its raw private key, which must belong to the public key.
    public init(kid: String, publicKey: [UInt8], privateKey: SecretBytes?) throws(Failure) {
        guard HS256Key.isValidKeyID(kid) else { throw .invalidKeyID }
        guard publicKey.count == Self.keyLength, let verifying = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else {
            throw .invalidPublicKey
        }
        var signing: Curve25519.Signing.PrivateKey?
        if let privateKey {
            guard privateKey.count == Self.keyLength, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: privateKey.bytes) else {
                throw .invalidPrivateKey
            }
            // Public keys are not secret: a plain comparison leaks nothing.
            guard key.publicKey.rawRepresentation == verifying.rawRepresentation else { throw .privateKeyMismatch }
            signing = key
        }
        self.kid = kid
        self.kidBytes = Array(kid.utf8)
        self.publicKey = verifying
        self.privateKey = signing
    }

    /// The raw public key of the private key `privateKey` (32 bytes), or `nil` if it is not 32 bytes.
    public static func publicKey(of privateKey: SecretBytes) -> [UInt8]? {
        guard privateKey.count == keyLength, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: privateKey.bytes) else {
            return nil
        }
        return Array(key.publicKey.rawRepresentation)
    }

    /// A fresh private key (32 bytes from the system CSPRNG).
    public static func generatePrivateKey() -> SecretBytes { SecretBytes.random(count: keyLength) }

    /// Whether this key can sign (it holds the private key).
    public var canSign: Bool { privateKey != nil }

    /// Whether `signature` is this key's Ed25519 signature of `message`.
    func isValidSignature(_ signature: UnsafeRawBufferPointer, for message: UnsafeRawBufferPointer) -> Bool {
        publicKey.isValidSignature(signature, for: message)
    }

    /// Names the key only.
    public var description: String { "EdDSAKey(kid: \(kid))" }
    /// Names the key only.
    public var debugDescription: String { description }
    /// Shows the `kid` alone, so `dump` and `Mirror` reveal no key material.
    public var customMirror: Mirror { Mirror(self, children: ["kid": kid], displayStyle: .struct) }
}
