import NIOPosix
import Synchronization

/// Holds one immutable value that a writer replaces rarely and every request reads.
///
/// A read takes neither a lock nor an actor hop: it loads one atomic generation number and, when the
/// calling thread has already seen that generation, returns the reference cached in a thread-local
/// slot. Only the first read on each thread after a replacement takes the mutex, once. This is the
/// keyring's hot path (docs/design.md §4: the verifier reads the current keys on every request), and it
/// stays free of shared writes, so readers on different cores never contend for a cache line.
///
/// Memory safety does not depend on timing: every cached value is a strong reference, so a replaced
/// value lives until the last thread that cached it reads again (or exits).
public final class SnapshotCell<Value: AnyObject & Sendable>: Sendable {
    private final class CachedValue: Sendable {
        let generation: Int
        let value: Value?

        init(generation: Int, value: Value?) {
            self.generation = generation
            self.value = value
        }
    }

    private let generation = Atomic<Int>(0)
    private let state: Mutex<(generation: Int, value: Value?)>
    private let cache = ThreadSpecificVariable<CachedValue>()

    public init(_ value: Value? = nil) {
        state = Mutex((generation: 0, value: value))
    }

    /// The value most recently stored; `nil` until the first store when the cell started empty.
    public func load() -> Value? {
        let published = generation.load(ordering: .acquiring)
        if let cached = cache.currentValue, cached.generation == published {
            return cached.value
        }
        let (current, value) = state.withLock { ($0.generation, $0.value) }
        cache.currentValue = CachedValue(generation: current, value: value)
        return value
    }

    /// Replaces the value; every later `load` on every thread returns it.
    public func store(_ value: Value?) {
        state.withLock { state in
            state = (generation: state.generation + 1, value: value)
            // Published under the mutex, so generations reach the atomic in order.
            generation.store(state.generation, ordering: .releasing)
        }
    }
}
