import Foundation

/// Where a key stands in its lifecycle while it is in the keyring (docs/design.md §4).
public enum KeyStatus: String, Codable, Sendable, CaseIterable {
    /// Published to verifiers ahead of use; verifies, does not sign.
    case next
    /// Signs and verifies; exactly one at any time.
    case current
    /// Verifies tokens it signed until `retire_at`; no longer signs.
    case previous
}

/// One key of the keyring: `kid`, algorithm, key material, status and lifecycle timestamps.
public struct KeyringKey: Sendable, Equatable {
    /// Unique, never reused key identifier.
    public var kid: String
    /// What the key signs with; a token's `alg` must equal it.
    public var algorithm: KeyAlgorithm
    /// The secret part; never printed. HS256: the MAC secret (≥ 32 bytes). EdDSA: the 32-byte Ed25519 private key in a
    /// signer's keyring, empty in a verifier's, which holds the public key only.
    public var secret: SecretBytes
    /// EdDSA: the 32-byte Ed25519 public key (`x`). HS256: empty (the secret is the whole key).
    public var publicKey: [UInt8]
    /// Lifecycle state.
    public var status: KeyStatus
    /// When the key was generated.
    public var createdAt: Date
    /// When the key became `current` (nil while `next`).
    public var activatedAt: Date?
    /// When a `previous` key leaves the keyring (rotation time + max access TTL + leeway).
    public var retireAt: Date?

    /// An HS256 key.
    public init(kid: String, secret: SecretBytes, status: KeyStatus, createdAt: Date, activatedAt: Date? = nil, retireAt: Date? = nil) {
        self.init(
            kid: kid,
            algorithm: .hs256,
            secret: secret,
            publicKey: [],
            status: status,
            createdAt: createdAt,
            activatedAt: activatedAt,
            retireAt: retireAt
        )
    }

    /// A key of any algorithm; ``Keyring`` checks that the material fits the algorithm.
    public init(
        kid: String,
        algorithm: KeyAlgorithm,
        secret: SecretBytes,
        publicKey: [UInt8],
        status: KeyStatus,
        createdAt: Date,
        activatedAt: Date? = nil,
        retireAt: Date? = nil
    ) {
        self.kid = kid
        self.algorithm = algorithm
        self.secret = secret
        self.publicKey = publicKey
        self.status = status
        self.createdAt = createdAt
        self.activatedAt = activatedAt
        self.retireAt = retireAt
    }

    /// The key as a verifier may hold it: an EdDSA key without its private key; an HS256 key unchanged (verifying
    /// needs the secret).
    public var withoutPrivateKey: KeyringKey {
        guard algorithm == .edDSA else { return self }
        var key = self
        key.secret = SecretBytes([])
        return key
    }
}
