import AuthStackCore
import AuthStackTestSupport
import Foundation
import PostgresNIO
import Testing

@testable import AuthStackStorage

/// The pool during an outage (issue 23): the first failed connection attempt refuses the caller waiting for it and
/// makes the pool unavailable; later callers are refused at once, without a connection attempt of their own, until
/// the probe sees the server again.
@Suite(.enabled(if: !TestPostgres.optedOut, "AUTHSTACK_TEST_POSTGRES=off"), .timeLimit(.minutes(2)))
struct PostgresOutageTests {
    @Test func aFailedConnectionRefusesTheWaitingCallerAndLaterOnesUntilTheServerIsBack() async throws {
        try await TestDatabase.with(.postgres) { database in
            let url = try #require(database.url)
            // The acquire timeout is the suite's long one: the refusal must come from the failed connection attempt.
            let pool = PostgresConnectionPool(
                url: url,
                logger: TestDatabase.logger,
                maximumConnections: 2,
                acquireTimeout: .seconds(TestDatabase.acquireTimeout)
            )
            let outage = DatabaseOutage(url)
            #expect(try await pool.rows("SELECT 1").count == 1)
            #expect(pool.isAvailable)
            try await outage.begin()

            // The first caller meets the outage: an answer, not a wait for as long as the server is away.
            let first = try await finished(within: .seconds(10)) { () async -> (any Error)? in
                do {
                    _ = try await pool.transaction { connection in try await connection.rows("SELECT 1") }
                    return nil
                } catch {
                    return error
                }
            }
            let error = try #require(first, "the first statement of the outage did not end within 10 s")
            #expect(error as? StorageUnavailable == StorageUnavailable(.unreachable), "\(String(describing: error))")
            // The refusal came from a failed connection attempt, or from the connection the server ended (then the
            // next attempt fails and opens the breaker).
            var refusing = !pool.isAvailable
            for _ in 0..<100 where !refusing {
                _ = try? await pool.rows("SELECT 1")
                refusing = !pool.isAvailable
                if !refusing { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(refusing, "the pool now refuses callers at once")
            await #expect(throws: StorageUnavailable(.unreachable)) { try await pool.rows("SELECT 1") }
            #expect(await pool.answers(within: .seconds(2)) == false)

            try await outage.end()
            var available = false
            for _ in 0..<80 where !available {
                available = pool.isAvailable
                if !available { try await Task.sleep(for: .milliseconds(250)) }
            }
            #expect(available, "the probe opened the pool again within 20 s of the server accepting connections")
            #expect(try await pool.rows("SELECT 1").count == 1)
            await pool.close()
            await outage.close()
        }
    }

    @Test func errorsThatMeanTheDatabaseCannotServeNowAreNamed() {
        #expect(PostgresConnectionPool.unavailability(PostgresConnectionClosedError()) == StorageUnavailable(.unreachable))
        #expect(PostgresConnectionPool.unavailability(StorageUnavailable(.diskFull)) == StorageUnavailable(.diskFull))
        #expect(PostgresConnectionPool.unavailability(CancellationError()) == nil, "not a database failure")
        struct Other: Error {}
        #expect(PostgresConnectionPool.unavailability(Other()) == nil)
    }
}
