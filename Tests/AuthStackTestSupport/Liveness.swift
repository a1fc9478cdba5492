import Foundation

/// Liveness checks: `body`'s result, or `nil` when it has not finished within `limit`.
///
/// `body` runs in a task of its own that is cancelled, not awaited, when the limit passes: a check that waited for it
/// (as a task group does for its children) would hang in exactly the case it is there to report. A time limit here
/// says "this must end", not how fast it must be; keep it generous.
package func finished<Value: Sendable>(within limit: Duration, _ body: @escaping @Sendable () async throws -> Value) async throws -> Value? {
    let (outcome, continuation) = AsyncThrowingStream.makeStream(of: Value?.self)
    let work = Task {
        do {
            continuation.yield(try await body())
            continuation.finish()
        } catch {
            continuation.finish(throwing: error)
        }
    }
    let timer = Task {
        try await Task.sleep(for: limit)
        continuation.yield(nil)
        continuation.finish()
    }
    defer {
        work.cancel()
        timer.cancel()
        continuation.finish()
    }
    for try await value in outcome { return value }
    throw CancellationError()
}

/// Whether `condition` holds within `limit`, asked every 50 ms: for state another task or process changes.
package func eventually(within limit: Duration, _ condition: @Sendable () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + limit
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(50))
    }
}
