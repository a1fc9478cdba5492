import AuthStackCore
import Foundation

/// One step of a key's lifecycle, as the policy decides it and storage applies it (in order, in one transaction).
public enum KeyTransition: Sendable, Equatable {
    /// Generate a key with status `next` (published ahead of use).
    case createNext
    /// Generate a key that signs at once: only when there is no `current` and no `next` to promote.
    case createCurrent
    /// `next` → `current`, activated now.
    case promote(kid: String)
    /// `current` → `previous`, leaving the keyring at `retireAt`.
    case demote(kid: String, retireAt: Date)
    /// `previous` → `retired`: its retention is over.
    case retire(kid: String)
    /// Any state → `revoked`, now.
    case revoke(kid: String)
}

/// Why a requested lifecycle operation was refused.
public enum KeyLifecycleError: Error, Equatable, Sendable {
    /// The `next` key is younger than the publish lead; retry after this many seconds, or force.
    case rotationTooSoon(retryAfter: Int)
    /// The rotation would leave more keys verifying than the keyring may hold.
    case keyringFull
    /// No key has this kid.
    case keyNotFound
}

/// Every decision of the key lifecycle (docs/design.md §4) as a pure function of `now` and the keys: no clock, no I/O, no
/// randomness. The key service asks it what to do and applies the answer; tests drive it with a fixed clock.
///
/// The policy also repairs whatever state a crash between two steps can leave (no `current`, no `next`, two
/// `current`s), so any sequence of restarts converges on exactly one `current` and one `next`. A clock that jumps
/// backwards only delays scheduled work; it never produces a negative wait or an early rotation.
public struct KeyLifecyclePolicy: Sendable {
    /// How often, and how carefully, keys rotate.
    public struct Configuration: Sendable, Equatable {
        /// Scheduled rotation interval (default 24 h).
        public var rotationInterval: Double
        /// Minimum age of `next` before it may sign (default 120 s: 2 × the 60 s maximum long-poll interval).
        public var publishLead: Double
        /// How long a `previous` key keeps verifying: max access TTL + leeway (default 900 + 30 s).
        public var retention: Double
        /// Most keys that verify at once.
        public var maximumVerifyingKeys: Int

        /// The defaults of docs/design.md §4 and §5.
        public init(rotationInterval: Double = 86_400, publishLead: Double = 120, retention: Double = 930, maximumVerifyingKeys: Int = 32) {
            self.rotationInterval = rotationInterval
            self.publishLead = publishLead
            self.retention = retention
            self.maximumVerifyingKeys = maximumVerifyingKeys
        }
    }

    /// The configuration in force.
    public let configuration: Configuration

    /// A policy with `configuration`.
    public init(configuration: Configuration = Configuration()) { self.configuration = configuration }

    /// What the scheduler does at `now`: repair, retire `previous` keys whose retention ended, rotate when due.
    public func scheduledTransitions(for keys: [KeyMetadata], now: Date) -> [KeyTransition] {
        let repairs = repairTransitions(for: keys, now: now)
        var state = Self.apply(repairs, to: keys, now: now)
        let retirements = retirementTransitions(for: state, now: now)
        state = Self.apply(retirements, to: state, now: now)
        guard repairs.isEmpty, let current = state.first(where: { $0.status == .current }),
            let next = state.first(where: { $0.status == .next }),
            let activatedAt = current.activatedAt,
            now.timeIntervalSince(activatedAt) >= configuration.rotationInterval,
            now.timeIntervalSince(next.createdAt) >= configuration.publishLead,
            verifyingCount(state) + 1 <= configuration.maximumVerifyingKeys
        else { return repairs + retirements }
        return retirements + rotationSteps(current: current, next: next, now: now)
    }

    /// An on-demand rotation at `now`. Without `force`, a `next` younger than the publish lead is refused with the
    /// seconds to wait.
    public func rotation(for keys: [KeyMetadata], now: Date, force: Bool) throws(KeyLifecycleError) -> [KeyTransition] {
        let repairs = repairTransitions(for: keys, now: now)
        var state = Self.apply(repairs, to: keys, now: now)
        let retirements = retirementTransitions(for: state, now: now)
        state = Self.apply(retirements, to: state, now: now)
        guard let current = state.first(where: { $0.status == .current }), let next = state.first(where: { $0.status == .next }) else {
            return repairs + retirements
        }
        let age = now.timeIntervalSince(next.createdAt)
        if !force, age < configuration.publishLead {
            // After a clock jump backwards the age is negative; never ask for more than one publish lead.
            let wait = min(configuration.publishLead, configuration.publishLead - age)
            throw .rotationTooSoon(retryAfter: max(1, Int(wait.rounded(.up))))
        }
        guard verifyingCount(state) + 1 <= configuration.maximumVerifyingKeys else { throw .keyringFull }
        return repairs + retirements + rotationSteps(current: current, next: next, now: now)
    }

    /// An emergency revocation of `kid` at `now`: the key leaves the keyring at once. Revoking `current` first promotes
    /// `next` (already published, so tokens it signs verify everywhere); revoking `next` publishes a new one.
    /// Revoking a revoked key changes nothing.
    public func revocation(of kid: String, in keys: [KeyMetadata], now: Date) throws(KeyLifecycleError) -> [KeyTransition] {
        guard let key = keys.first(where: { $0.kid == kid }) else { throw .keyNotFound }
        switch key.status {
        case .revoked:
            return []
        case .previous, .retired:
            return [.revoke(kid: kid)]
        case .next:
            return [.revoke(kid: kid), .createNext]
        case .current:
            guard let next = keys.first(where: { $0.status == .next }) else {
                // No published successor (a state only a crash leaves): sign with a fresh key at once.
                return [.revoke(kid: kid), .createCurrent, .createNext]
            }
            return [.promote(kid: next.kid), .revoke(kid: kid), .createNext]
        }
    }

    private func rotationSteps(current: KeyMetadata, next: KeyMetadata, now: Date) -> [KeyTransition] {
        [.promote(kid: next.kid), .demote(kid: current.kid, retireAt: now.addingTimeInterval(configuration.retention)), .createNext]
    }

    /// Transitions that restore exactly one `current` and one `next`.
    func repairTransitions(for keys: [KeyMetadata], now: Date) -> [KeyTransition] {
        var transitions: [KeyTransition] = []
        let currents = keys.filter { $0.status == .current }.sorted { ($0.activatedAt ?? $0.createdAt) > ($1.activatedAt ?? $1.createdAt) }
        // Two `current`s: keep the most recently activated one signing, let the others verify out their retention.
        for extra in currents.dropFirst() {
            transitions.append(.demote(kid: extra.kid, retireAt: now.addingTimeInterval(configuration.retention)))
        }
        var nexts = keys.filter { $0.status == .next }.sorted { $0.createdAt < $1.createdAt }
        if currents.isEmpty {
            if nexts.isEmpty {
                transitions.append(.createCurrent)
            } else {
                transitions.append(.promote(kid: nexts.removeFirst().kid))
            }
        }
        // Surplus `next` keys (only a crash between two creations leaves them) stay: they are published and harmless.
        if nexts.isEmpty { transitions.append(.createNext) }
        return transitions
    }

    func retirementTransitions(for keys: [KeyMetadata], now: Date) -> [KeyTransition] {
        keys.filter { $0.status == .previous && ($0.retireAt.map { $0 <= now } ?? true) }.map { .retire(kid: $0.kid) }
    }

    func verifyingCount(_ keys: [KeyMetadata]) -> Int {
        keys.filter { $0.status.keyringStatus != nil }.count
    }
}
