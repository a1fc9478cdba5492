import AuthStackCore
import Foundation

/// One keyring as a service holds it, with when it arrived. Immutable; replaced as a whole.
public final class KeyringSnapshot: Sendable {
    public let keyring: Keyring
    /// When this keyring was received (or, for a fixed keyring, created).
    public let receivedAt: Date

    public init(keyring: Keyring, receivedAt: Date) {
        self.keyring = keyring
        self.receivedAt = receivedAt
    }
}

/// Where the verifier and the signer get their keys (docs/design.md §4 "Distribution").
///
/// `current()` is on every request's path and must not take a lock or hop to an actor;
/// `refreshForUnknownKeyID()` runs only when a token names a kid that is not held.
public protocol KeyringSource: Sendable {
    /// The keyring held now; `nil` until a first keyring has arrived.
    func current() -> KeyringSnapshot?

    /// Asks once for a fresher keyring because a token named a kid that is not held. Implementations
    /// coalesce concurrent callers into one fetch and rate-limit fetches, so forged kids cannot cause a
    /// fetch storm. Returns the keyring held afterwards (possibly unchanged).
    func refreshForUnknownKeyID() async -> KeyringSnapshot?
}

/// A keyring that never changes: for tests, benchmarks and single-process tools.
public struct FixedKeyringSource: KeyringSource {
    private let snapshot: KeyringSnapshot?

    public init(_ keyring: Keyring?, receivedAt: Date = Date()) {
        snapshot = keyring.map { KeyringSnapshot(keyring: $0, receivedAt: receivedAt) }
    }

    public func current() -> KeyringSnapshot? { snapshot }

    public func refreshForUnknownKeyID() async -> KeyringSnapshot? { snapshot }
}
