import AuthStackHTTP
import AuthStackStorage
import AuthStackTestSupport
import Foundation
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization
import Testing

/// The pool when its database drops, refuses or stops answering connections: every statement and wait ends, and the
/// pool closes, within bounds (liveness, checked with bounded waits that cannot themselves hang).
@Suite(.enabled(if: !TestPostgres.optedOut, "AUTHSTACK_TEST_POSTGRES=off"), .timeLimit(.minutes(2)))
struct PostgresConnectionLossTests {
    /// The race behind the readiness test that hung, made deterministic. The server closes a connection the pool holds
    /// idle; before the pool hears of it (its close notification runs on the connection's event loop, right after the
    /// channel's handlers are removed), a statement is given that connection. postgres-nio would write the statement
    /// to the channel from the caller's thread; the write reaches the event loop after the handlers are gone, fails
    /// without telling anyone, and the statement waits forever for a result, deaf to cancellation. Here the event
    /// loop is held between closing the connection and removing its handlers, so the statement is always given the
    /// closed connection: it must end, and since nothing was sent, run on a new connection.
    @Test func aStatementGivenAConnectionThatHasJustClosedRunsOnAnotherInsteadOfWaitingForever() async throws {
        // An event loop of its own: holding one of NIO's shared loops would stall every other test's sockets on it.
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { loop.shutdownGracefully { _ in } }
        try await TestDatabase.with(.postgres) { database in
            let pool = PostgresConnectionPool(
                url: try #require(database.url),
                logger: TestDatabase.logger,
                maximumConnections: 1,
                acquireTimeout: .seconds(TestDatabase.acquireTimeout),
                eventLoopGroup: loop
            )
            let connection = try await pool.transaction { connection in connection }  // idle in the pool again now
            let asked = Flag()
            let closed = Flag()
            let held = connection.eventLoop.submit {
                // Closes the channel now; removing its handlers and telling the pool are queued behind this task.
                let closing: EventLoopFuture<Void> = connection.close()
                _ = closing
                closed.set()
                let deadline = ContinuousClock.now + .seconds(10)
                while !asked.isSet, ContinuousClock.now < deadline { usleep(1_000) }
                usleep(500_000)  // time for the statement below to be given the connection
            }
            // Polled: a callback on a future of the held loop would wait for the loop.
            while !closed.isSet { try await Task.sleep(for: .milliseconds(1)) }
            #expect(connection.isClosed)
            asked.set()
            let answer = try await finished(within: .seconds(20)) { try await pool.rows("SELECT 1").first?.decode(Int.self) ?? 0 }
            #expect(answer == 1, "the statement given the closed connection never finished")
            try await held.get()
            #expect(try await finished(within: .seconds(20)) { await pool.close() } != nil, "the pool did not close")
        }
    }

    /// The server ends every connection and refuses new ones: statements fail (after the pool's retries) rather than
    /// hang, `answers` says no within its bound, and `close` ends even with a statement still waiting for a connection.
    @Test func aPoolWhoseDatabaseRefusesConnectionsStillAnswersAndCloses() async throws {
        try await TestDatabase.with(.postgres) { database in
            let url = try #require(database.url)
            let pool = try database.postgresPool(maximumConnections: 2)
            #expect(try await pool.rows("SELECT 1").count == 1)
            let outage = DatabaseOutage(url)
            try await outage.begin()

            let started = ContinuousClock.now
            #expect(try await finished(within: .seconds(20)) { await pool.answers(within: .seconds(2)) } == false)
            #expect(ContinuousClock.now - started < .seconds(6), "answers(within: 2 s) took \(ContinuousClock.now - started)")

            // A statement waits for a connection the server will not give; closing the pool ends the wait.
            let waiting = Task { try await pool.rows("SELECT 1") }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await finished(within: .seconds(30)) { await pool.close() } != nil, "the pool did not close")
            let outcome = try await finished(within: .seconds(10)) { await waiting.result }
            #expect(outcome != nil, "the waiting statement did not end when the pool closed")
            if case .success? = outcome { Issue.record("a statement succeeded on a database that refuses connections") }

            try await outage.end()
            await outage.close()
        }
    }
}

/// ``PostgresConnectionPool/withDeadline(_:_:)``, which bounds start-up, `/readyz` and closing.
@Suite(.timeLimit(.minutes(1)))
struct PostgresDeadlineTests {
    /// A postgres-nio call can ignore cancellation (it awaits a result no cancellation completes): the deadline must
    /// end the wait all the same, not wait for the operation as a task group would.
    @Test func theDeadlineEndsTheWaitEvenWhenTheOperationIgnoresCancellation() async throws {
        let gate = Gate()
        let started = ContinuousClock.now
        let outcome = try await finished(within: .seconds(20)) { () async -> String in
            do {
                try await PostgresConnectionPool.withDeadline(.milliseconds(200)) { await gate.wait() }
                return "returned"
            } catch {
                return "\(type(of: error))"
            }
        }
        gate.open()
        #expect(outcome != nil, "withDeadline waited for an operation that ignores cancellation")
        #expect(outcome == "PostgresTimeoutError")
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func theOperationsResultOrErrorComesBackAsItIs() async throws {
        #expect(try await PostgresConnectionPool.withDeadline(.seconds(10)) { 42 } == 42)
        struct Refused: Error {}
        await #expect(throws: Refused.self) { try await PostgresConnectionPool.withDeadline(.seconds(10)) { throw Refused() } }
    }

    @Test func aCancelledCallerStopsWaitingAtOnce() async throws {
        let gate = Gate()
        let waiting = Task { try await PostgresConnectionPool.withDeadline(.seconds(600)) { await gate.wait() } }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        let outcome = try await finished(within: .seconds(20)) { await waiting.result }
        gate.open()
        let result = try #require(outcome, "the cancelled caller kept waiting")
        #expect(throws: CancellationError.self) { try result.get() }
    }
}

/// A flag one thread sets and another polls.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// An operation that ignores cancellation: ``wait()`` returns only once ``open()`` is called.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
