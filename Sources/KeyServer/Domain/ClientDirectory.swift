import AuthStackCore
import Foundation
import Synchronization

/// The clients this replica authenticates against: the latest ``ClientSnapshot`` in memory (a keyring request never
/// waits for the database, which may be away), and the long-polls waiting on each token, ended as soon as a newer
/// snapshot no longer accepts it (docs/design.md §5.4: a revoked client's open long-polls end at once).
final class ClientDirectory: Sendable {
    private struct Waiter {
        let hash: [UInt8]
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var snapshot: ClientSnapshot
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
        /// When this replica last wrote each client's "last seen" (at most once a minute per client).
        var lastSeenWritten: [String: Date] = [:]
    }

    private let state: Mutex<State>

    /// "Last seen" is written at most this often per client.
    static let lastSeenGranularity: TimeInterval = 60

    init(_ snapshot: ClientSnapshot) { state = Mutex(State(snapshot: snapshot)) }

    /// The version of the clients this replica holds.
    var version: Int { state.withLock { $0.snapshot.version } }

    /// Whether any client can call the key service.
    var hasActiveClients: Bool { state.withLock { $0.snapshot.clients.contains(where: \.isActive) } }

    /// Takes `snapshot` if it is newer than the one held, and ends the waits of every token it no longer accepts.
    func replace(with snapshot: ClientSnapshot, now: Date) {
        let ended: [CheckedContinuation<Bool, Never>] = state.withLock { state in
            guard snapshot.version > state.snapshot.version else { return [] }
            state.snapshot = snapshot
            let invalid = state.waiters.filter { _, waiter in !snapshot.accepts(waiter.hash, at: now) }
            for id in invalid.keys { state.waiters[id] = nil }
            return invalid.values.map(\.continuation)
        }
        for continuation in ended { continuation.resume(returning: true) }
    }

    /// The client whose token this is at `now`, or nil. Every client is compared, in constant time.
    func authenticate(_ token: String, now: Date) -> ClientRecord? {
        let presented = ClientRecord.hash(token)
        return state.withLock { state in
            var found: ClientRecord?
            for client in state.snapshot.clients where client.accepts(presented, at: now) { found = client }
            return found
        }
    }

    /// Whether this replica should write `name`'s "last seen" now (and notes that it does).
    func lastSeenDue(_ name: String, now: Date) -> Bool {
        state.withLock { state in
            if let written = state.lastSeenWritten[name], now.timeIntervalSince(written) < Self.lastSeenGranularity { return false }
            state.lastSeenWritten[name] = now
            return true
        }
    }

    /// Waits until a newer snapshot no longer accepts `token` (true at once if the one held no longer does: a
    /// revocation may land between a request's authentication and its wait), or the calling task is cancelled (false).
    func untilRefused(_ token: String, now: Date) async -> Bool {
        let hash = ClientRecord.hash(token)
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                // Under the lock that `onCancel` also takes: either the cancellation is seen here, or the waiter is
                // registered before `onCancel` looks for it.
                let refused: Bool? = state.withLock { state in
                    guard !Task.isCancelled else { return false }
                    guard state.snapshot.accepts(hash, at: now) else { return true }
                    state.waiters[id] = Waiter(hash: hash, continuation: continuation)
                    return nil
                }
                if let refused { continuation.resume(returning: refused) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(returning: false)
        }
    }

    /// How many long-polls wait on a token now (tests).
    var waiting: Int { state.withLock { $0.waiters.count } }
}
