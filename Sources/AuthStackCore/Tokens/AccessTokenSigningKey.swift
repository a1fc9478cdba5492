import Crypto
import Foundation

/// The key identity signs access tokens with: the keyring's `current` key, HS256 or EdDSA (docs/design.md §2.1).
///
/// Prints only its `kid` and algorithm, never key material.
public struct AccessTokenSigningKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private enum Material: Sendable {
        case hs256(HS256Key)
        case edDSA(Curve25519.Signing.PrivateKey)
    }

    /// The `kid` of the JWS header.
    public let kid: String
    /// The `alg` of the JWS header.
    public let algorithm: KeyAlgorithm
    private let material: Material

    /// Signs with an HS256 key.
    public init(_ key: HS256Key) {
        kid = key.kid
        algorithm = .hs256
        material = .hs256(key)
    }

    /// Signs with an EdDSA key, or `nil` when the key has no private part (a verifier's keyring).
    public init?(_ key: EdDSAKey) {
        guard let privateKey = key.privateKey else { return nil }
        kid = key.kid
        algorithm = .edDSA
        material = .edDSA(privateKey)
    }

    /// The JWS signature of `signingInput`: HMAC-SHA256 (32 bytes) or Ed25519 (64 bytes).
    func signature(for signingInput: [UInt8]) -> [UInt8] {
        switch material {
        case .hs256(let key):
            return signingInput.withUnsafeBytes { key.authenticationCode(for: $0) }
        case .edDSA(let privateKey):
            // BoringSSL's Ed25519 signing has no failure case for a valid 32-byte key, which the init checked.
            return Array(try! privateKey.signature(for: signingInput))
        }
    }

    /// Names the key and its algorithm only.
    public var description: String { "AccessTokenSigningKey(kid: \(kid), alg: \(algorithm.rawValue))" }
    /// Names the key and its algorithm only.
    public var debugDescription: String { description }
    /// Shows the `kid` and algorithm alone, so `dump` and `Mirror` reveal no key material.
    public var customMirror: Mirror { Mirror(self, children: ["kid": kid, "algorithm": algorithm], displayStyle: .struct) }
}
