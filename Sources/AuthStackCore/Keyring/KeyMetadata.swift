import Foundation

/// Every state a key passes through in the key service (docs/design.md §4). Only `next`, `current` and `previous` keys
/// are in the distributed keyring; `retired` and `revoked` keys are kept as history.
public enum KeyLifecycleStatus: String, Codable, Sendable, CaseIterable {
    /// Published ahead of use: verifies, does not sign.
    case next
    /// The one signing key.
    case current
    /// Verifies what it signed until `retire_at`.
    case previous
    /// Left the keyring after its retention ended.
    case retired
    /// Removed from the keyring by an emergency revocation.
    case revoked

    /// The status the key has in the distributed keyring, or `nil` when it is not in it.
    public var keyringStatus: KeyStatus? {
        switch self {
        case .next: .next
        case .current: .current
        case .previous: .previous
        case .retired, .revoked: nil
        }
    }
}

/// What the key service knows about a key besides its secret: the admin listing's row and the lifecycle policy's input.
public struct KeyMetadata: Sendable, Equatable, Codable {
    /// Unique, never reused key id.
    public var kid: String
    /// What the key signs with (`alg` in the listing); fixed when the key is made.
    public var algorithm: KeyAlgorithm
    /// Lifecycle state.
    public var status: KeyLifecycleStatus
    /// When the key was generated.
    public var createdAt: Date
    /// When it became `current` (nil before).
    public var activatedAt: Date?
    /// When a `previous` key leaves the keyring.
    public var retireAt: Date?
    /// When it was revoked (nil unless revoked).
    public var revokedAt: Date?

    enum CodingKeys: String, CodingKey {
        case kid, status
        case algorithm = "alg"
        case createdAt = "created_at"
        case activatedAt = "activated_at"
        case retireAt = "retire_at"
        case revokedAt = "revoked_at"
    }

    /// Encodes every member, absent timestamps as `null`, so the admin listing always has the same shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kid, forKey: .kid)
        try container.encode(algorithm, forKey: .algorithm)
        try container.encode(status, forKey: .status)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(activatedAt, forKey: .activatedAt)
        try container.encode(retireAt, forKey: .retireAt)
        try container.encode(revokedAt, forKey: .revokedAt)
    }

    /// A key record.
    public init(
        kid: String,
        algorithm: KeyAlgorithm = .hs256,
        status: KeyLifecycleStatus,
        createdAt: Date,
        activatedAt: Date? = nil,
        retireAt: Date? = nil,
        revokedAt: Date? = nil
    ) {
        self.kid = kid
        self.algorithm = algorithm
        self.status = status
        self.createdAt = createdAt
        self.activatedAt = activatedAt
        self.retireAt = retireAt
        self.revokedAt = revokedAt
    }
}
