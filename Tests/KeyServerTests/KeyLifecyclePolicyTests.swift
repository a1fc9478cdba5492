import AuthStackCore
import AuthStackTestSupport
import Foundation
import Testing

@testable import KeyServer

/// docs/design.md §4 decisions, driven with a fixed clock: rotation on schedule and on demand, retention, revocation,
/// restarts between two steps, clock jumps, and the keyring bound.
@Suite struct KeyLifecyclePolicyTests {
    let policy = KeyLifecyclePolicy()
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let day: Double = 86_400

    /// A key service in memory: applies the policy's transitions with predictable kids.
    struct Simulation {
        var keys: [KeyMetadata] = []
        var counter = 0
        let policy: KeyLifecyclePolicy

        mutating func apply(_ transitions: [KeyTransition], at now: Date) {
            keys = KeyLifecyclePolicy.apply(transitions, to: keys, now: now) {
                counter += 1
                return "k\(counter)"
            }
        }

        mutating func tick(at now: Date) { apply(policy.scheduledTransitions(for: keys, now: now), at: now) }

        func kid(_ status: KeyLifecycleStatus) -> String? { keys.first { $0.status == status }?.kid }
        func kids(_ status: KeyLifecycleStatus) -> [String] { keys.filter { $0.status == status }.map(\.kid) }
        var verifying: [String] { keys.filter { $0.status.keyringStatus != nil }.map(\.kid) }
    }

    func started() -> Simulation {
        var simulation = Simulation(policy: policy)
        simulation.tick(at: Self.t0)
        return simulation
    }

    @Test func firstStartCreatesACurrentAndANextKey() {
        #expect(policy.scheduledTransitions(for: [], now: Self.t0) == [.createCurrent, .createNext])
        let simulation = started()
        #expect(simulation.kid(.current) == "k1")
        #expect(simulation.kid(.next) == "k2")
    }

    @Test func nothingChangesBeforeTheRotationInterval() {
        let simulation = started()
        #expect(policy.scheduledTransitions(for: simulation.keys, now: Self.t0.addingTimeInterval(Self.day - 1)).isEmpty)
    }

    @Test func scheduledRotationPromotesNextDemotesCurrentAndPublishesANewNext() {
        let simulation = started()
        let now = Self.t0.addingTimeInterval(Self.day)
        #expect(
            policy.scheduledTransitions(for: simulation.keys, now: now) == [
                .promote(kid: "k2"), .demote(kid: "k1", retireAt: now.addingTimeInterval(930)), .createNext,
            ]
        )
    }

    @Test func previousKeyVerifiesUntilTTLPlusLeewayThenRetires() {
        var simulation = started()
        let rotatedAt = Self.t0.addingTimeInterval(Self.day)
        simulation.tick(at: rotatedAt)
        #expect(simulation.kid(.previous) == "k1")
        #expect(policy.scheduledTransitions(for: simulation.keys, now: rotatedAt.addingTimeInterval(929)).isEmpty)
        #expect(policy.scheduledTransitions(for: simulation.keys, now: rotatedAt.addingTimeInterval(930)) == [.retire(kid: "k1")])
    }

    @Test func nextYoungerThanThePublishLeadIsNotPromotedWithoutForce() throws {
        var simulation = started()
        let now = Self.t0.addingTimeInterval(60)
        #expect(throws: KeyLifecycleError.rotationTooSoon(retryAfter: 60)) { try policy.rotation(for: simulation.keys, now: now, force: false) }
        simulation.apply(try policy.rotation(for: simulation.keys, now: now, force: true), at: now)
        #expect(simulation.kid(.current) == "k2")
    }

    @Test func twoRotationsInQuickSuccession() throws {
        var simulation = started()
        let first = Self.t0.addingTimeInterval(300)
        simulation.apply(try policy.rotation(for: simulation.keys, now: first, force: false), at: first)
        #expect(simulation.kid(.current) == "k2")
        #expect(simulation.kid(.next) == "k3")
        // k3 was published a second ago: verifiers may not hold it yet.
        let second = first.addingTimeInterval(1)
        #expect(throws: KeyLifecycleError.rotationTooSoon(retryAfter: 119)) { try policy.rotation(for: simulation.keys, now: second, force: false) }
        let later = first.addingTimeInterval(120)
        simulation.apply(try policy.rotation(for: simulation.keys, now: later, force: false), at: later)
        #expect(simulation.kid(.current) == "k3")
        #expect(simulation.kids(.previous) == ["k1", "k2"], "tokens signed by either earlier key keep verifying")
        #expect(Set(simulation.verifying) == ["k1", "k2", "k3", "k4"])
    }

    @Test func scheduledRotationWaitsForAYoungNextInsteadOfPromotingIt() {
        var simulation = started()
        simulation.apply([.revoke(kid: "k2"), .createNext], at: Self.t0.addingTimeInterval(Self.day - 10))
        #expect(policy.scheduledTransitions(for: simulation.keys, now: Self.t0.addingTimeInterval(Self.day)).isEmpty)
        #expect(!policy.scheduledTransitions(for: simulation.keys, now: Self.t0.addingTimeInterval(Self.day + 110)).isEmpty)
    }

    @Test func revokingCurrentPromotesThePublishedNextFirst() throws {
        var simulation = started()
        let now = Self.t0.addingTimeInterval(10)
        let transitions = try policy.revocation(of: "k1", in: simulation.keys, now: now)
        #expect(transitions == [.promote(kid: "k2"), .revoke(kid: "k1"), .createNext])
        simulation.apply(transitions, at: now)
        #expect(simulation.kid(.current) == "k2")
        #expect(simulation.kid(.next) == "k3")
        #expect(!simulation.verifying.contains("k1"))
        #expect(simulation.keys.first { $0.kid == "k1" }?.revokedAt == now)
    }

    @Test func revokingNextPublishesANewNext() throws {
        let simulation = started()
        #expect(try policy.revocation(of: "k2", in: simulation.keys, now: Self.t0) == [.revoke(kid: "k2"), .createNext])
    }

    @Test func revokingPreviousOnlyRemovesIt() throws {
        var simulation = started()
        simulation.tick(at: Self.t0.addingTimeInterval(Self.day))
        #expect(try policy.revocation(of: "k1", in: simulation.keys, now: Self.t0.addingTimeInterval(Self.day + 5)) == [.revoke(kid: "k1")])
    }

    @Test func revokingARevokedKeyChangesNothingAndAnUnknownKidIsNotFound() throws {
        var simulation = started()
        simulation.apply(try policy.revocation(of: "k2", in: simulation.keys, now: Self.t0), at: Self.t0)
        #expect(try policy.revocation(of: "k2", in: simulation.keys, now: Self.t0).isEmpty)
        #expect(throws: KeyLifecycleError.keyNotFound) { try policy.revocation(of: "nope", in: simulation.keys, now: Self.t0) }
    }

    @Test func restartAfterPromoteBeforeDemoteKeepsTheNewestCurrent() {
        var simulation = started()
        let now = Self.t0.addingTimeInterval(Self.day)
        simulation.apply([.promote(kid: "k2")], at: now)  // the crash came here
        #expect(simulation.kids(.current).count == 2)
        simulation.tick(at: now.addingTimeInterval(5))
        #expect(simulation.kids(.current) == ["k2"])
        #expect(simulation.kid(.previous) == "k1")
        #expect(simulation.kid(.next) == "k3")
    }

    @Test func restartAfterDemoteBeforePromotePromotesTheNext() {
        var simulation = started()
        let now = Self.t0.addingTimeInterval(Self.day)
        simulation.apply([.demote(kid: "k1", retireAt: now.addingTimeInterval(930))], at: now)
        simulation.tick(at: now.addingTimeInterval(5))
        #expect(simulation.kid(.current) == "k2")
        #expect(simulation.kid(.next) == "k3")
    }

    @Test func restartBeforeTheNewNextWasCreatedCreatesIt() {
        var simulation = started()
        let now = Self.t0.addingTimeInterval(Self.day)
        simulation.apply([.promote(kid: "k2"), .demote(kid: "k1", retireAt: now.addingTimeInterval(930))], at: now)
        #expect(simulation.kid(.next) == nil)
        #expect(policy.scheduledTransitions(for: simulation.keys, now: now.addingTimeInterval(1)) == [.createNext])
    }

    @Test func clockJumpingBackwardsNeitherRotatesNorRetiresEarly() throws {
        var simulation = started()
        let rotatedAt = Self.t0.addingTimeInterval(Self.day)
        simulation.tick(at: rotatedAt)
        let past = rotatedAt.addingTimeInterval(-3_600)
        #expect(policy.scheduledTransitions(for: simulation.keys, now: past).isEmpty)
        #expect(throws: KeyLifecycleError.rotationTooSoon(retryAfter: 120)) { try policy.rotation(for: simulation.keys, now: past, force: false) }
    }

    @Test func rotationThatWouldOverfillTheKeyringIsRefused() throws {
        let small = KeyLifecyclePolicy(configuration: .init(maximumVerifyingKeys: 3))
        var simulation = Simulation(policy: small)
        simulation.tick(at: Self.t0)
        let now = Self.t0.addingTimeInterval(200)
        simulation.apply(try small.rotation(for: simulation.keys, now: now, force: true), at: now)
        #expect(simulation.verifying.count == 3)
        #expect(throws: KeyLifecycleError.keyringFull) { try small.rotation(for: simulation.keys, now: now, force: true) }
        #expect(small.scheduledTransitions(for: simulation.keys, now: now.addingTimeInterval(Self.day)).contains(.retire(kid: "k1")))
    }

    @Test func anySequenceOfOperationsKeepsTheInvariants() throws {
        var generator = SplitMix64(seed: 2026)
        var simulation = started()
        var now = Self.t0
        var revoked: Set<String> = []
        for _ in 0..<2_000 {
            now = now.addingTimeInterval(Double(generator.next() % 7_200) - 600)  // mostly forward, sometimes back
            switch generator.next() % 4 {
            case 0:
                simulation.tick(at: now)
            case 1:
                if let transitions = try? policy.rotation(for: simulation.keys, now: now, force: generator.next() % 2 == 0) {
                    simulation.apply(transitions, at: now)
                }
            case 2:
                let candidates = simulation.verifying
                let victim = candidates[Int(generator.next() % UInt64(candidates.count))]
                simulation.apply(try policy.revocation(of: victim, in: simulation.keys, now: now), at: now)
                revoked.insert(victim)
            default:
                simulation.tick(at: now)
            }
            #expect(simulation.kids(.current).count == 1)
            #expect(!simulation.kids(.next).isEmpty)
            #expect(simulation.verifying.count <= 32)
            #expect(revoked.isDisjoint(with: simulation.verifying))
        }
    }
}
