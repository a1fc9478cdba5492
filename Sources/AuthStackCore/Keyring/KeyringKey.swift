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

/// One HS256 key of the keyring: `kid`, secret, status and lifecycle timestamps.
public struct KeyringKey: Sendable, Equatable {
    /// Unique, never reused key identifier.
    public var kid: String
    /// The HS256 secret (≥ 32 bytes); never printed.
    public var secret: SecretBytes
    /// Lifecycle state.
    public var status: KeyStatus
    /// When the key was generated.
    public var createdAt: Date
    /// When the key became `current` (nil while `next`).
    public var activatedAt: Date?
    /// When a `previous` key leaves the keyring (rotation time + max access TTL + leeway).
    public var retireAt: Date?

    /// Creates a key record.
    public init(kid: String, secret: SecretBytes, status: KeyStatus, createdAt: Date, activatedAt: Date? = nil, retireAt: Date? = nil) {
        self.kid = kid
        self.secret = secret
        self.status = status
        self.createdAt = createdAt
        self.activatedAt = activatedAt
        self.retireAt = retireAt
    }
}
