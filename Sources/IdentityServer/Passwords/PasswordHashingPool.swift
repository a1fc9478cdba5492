import AuthStackCore
import NIOConcurrencyHelpers
import NIOPosix

/// Runs password hashing off the request executor, on a `NIOThreadPool`, behind a concurrency cap (docs/design.md §6).
///
/// At most `maximumConcurrent` hashes run at once (each needs `parameters.memoryBytes`); up to `maximumQueued` more
/// wait for a slot; beyond that a call fails at once with ``PasswordHashingError/overloaded(retryAfter:)``, which
/// identity answers with 503 + `Retry-After`: load shedding instead of a collapse. The queue bound is also the bound
/// on waiting: a caller waits at most `maximumQueued / maximumConcurrent` hash durations.
public final class PasswordHashingPool: Sendable {
    /// The hasher whose work this pool schedules.
    public let hasher: PasswordHasher
    private let threadPool: NIOThreadPool
    private let limiter: ConcurrencyLimiter
    private let completed = NIOLockedValueBox(0)

    /// A pool on `threadPool` (default: the process-wide NIO pool) with the given cap and queue.
    public init(hasher: PasswordHasher, maximumConcurrent: Int, maximumQueued: Int, threadPool: NIOThreadPool = .singleton) {
        self.hasher = hasher
        self.threadPool = threadPool
        self.limiter = ConcurrencyLimiter(permits: max(1, maximumConcurrent), maximumWaiters: max(0, maximumQueued))
    }

    /// Hashes `password` for storage.
    public func hash(_ password: String) async throws -> String {
        let hasher = self.hasher
        return try await run { () throws(PasswordHashingError) -> String in try hasher.hash(password) }
    }

    /// Verifies `password` against a stored hash.
    public func verify(_ password: String, against stored: String) async throws -> PasswordVerification {
        let hasher = self.hasher
        return try await run { hasher.verify(password, against: stored) }
    }

    /// The unknown-user path: the same cost as ``verify(_:against:)``, always a mismatch.
    public func verifyUnknownUser(_ password: String) async throws -> PasswordVerification {
        let hasher = self.hasher
        return try await run { hasher.verifyUnknownUser(password) }
    }

    /// Hashes running or queued right now (for metrics).
    public var inFlight: Int { limiter.inUse }

    /// Hashes and verifications run to completion so far (each one scrypt or bcrypt computation).
    public var completedOperations: Int { completed.withLockedValue { $0 } }

    private func run<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await limiter.acquire()
        defer { limiter.release() }
        let result = try await threadPool.runIfActive(work)
        completed.withLockedValue { $0 += 1 }
        return result
    }
}

/// A counting semaphore for async code with a bounded wait queue; waiting never blocks a thread.
final class ConcurrencyLimiter: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, any Error>] = []
    }

    private let state: NIOLockedValueBox<State>
    private let permits: Int
    private let maximumWaiters: Int

    init(permits: Int, maximumWaiters: Int) {
        self.permits = permits
        self.maximumWaiters = maximumWaiters
        self.state = NIOLockedValueBox(State(available: permits))
    }

    /// Permits taken plus callers waiting.
    var inUse: Int { state.withLockedValue { permits - $0.available + $0.waiters.count } }

    /// Takes a permit, waits for one if the queue has room, or throws ``PasswordHashingError/overloaded(retryAfter:)``.
    func acquire() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let granted: Bool? = state.withLockedValue { state in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                guard state.waiters.count < maximumWaiters else { return false }
                state.waiters.append(continuation)
                return nil
            }
            switch granted {
            case true?: continuation.resume()
            case false?: continuation.resume(throwing: PasswordHashingError.overloaded(retryAfter: 1))
            case nil: break
            }
        }
    }

    /// Returns a permit, handing it straight to the longest waiter if there is one.
    func release() {
        let next = state.withLockedValue { state -> CheckedContinuation<Void, any Error>? in
            guard !state.waiters.isEmpty else {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
