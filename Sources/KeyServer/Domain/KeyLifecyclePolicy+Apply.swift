import AuthStackCore
import Foundation

extension KeyLifecyclePolicy {
    /// The keys after `transitions`, applied in order at `now`; new keys get ids from `newKeyID`.
    ///
    /// The reference semantics of each transition: the key service's storage applies the same steps in a transaction,
    /// and the policy uses this to reason about the state between its own steps.
    public static func apply(
        _ transitions: [KeyTransition],
        to keys: [KeyMetadata],
        now: Date,
        newKeyID: () -> String = { "pending-\(UUID().uuidString.lowercased())" }
    ) -> [KeyMetadata] {
        var keys = keys
        for transition in transitions {
            switch transition {
            case .createNext:
                keys.append(KeyMetadata(kid: newKeyID(), status: .next, createdAt: now))
            case .createCurrent:
                keys.append(KeyMetadata(kid: newKeyID(), status: .current, createdAt: now, activatedAt: now))
            case .promote(let kid):
                update(kid, in: &keys) {
                    $0.status = .current
                    $0.activatedAt = now
                }
            case .demote(let kid, let retireAt):
                update(kid, in: &keys) {
                    $0.status = .previous
                    $0.retireAt = retireAt
                }
            case .retire(let kid):
                update(kid, in: &keys) { $0.status = .retired }
            case .revoke(let kid):
                update(kid, in: &keys) {
                    $0.status = .revoked
                    $0.revokedAt = now
                }
            }
        }
        return keys
    }

    private static func update(_ kid: String, in keys: inout [KeyMetadata], _ change: (inout KeyMetadata) -> Void) {
        guard let index = keys.firstIndex(where: { $0.kid == kid }) else { return }
        change(&keys[index])
    }
}
