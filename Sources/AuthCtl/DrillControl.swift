import Synchronization

/// What the drill's driver tells its clients: stop, and which kids it revoked.
final class DrillControl: Sendable {
    private let stopFlag = Atomic<Bool>(false)
    private let revoked = Mutex<Set<String>>([])

    /// Whether the clients should stop.
    var stopped: Bool { stopFlag.load(ordering: .relaxed) }
    /// Tells the clients to stop after their current request.
    func stop() { stopFlag.store(true, ordering: .relaxed) }
    /// Records a kid the drill revoked, so 401s for its tokens count as expected.
    func markRevoked(_ kid: String) { revoked.withLock { _ = $0.insert(kid) } }
    /// Whether the drill revoked `kid`.
    func isRevoked(_ kid: String) -> Bool { revoked.withLock { $0.contains(kid) } }
}
