import AuthStackStorage
import PostgresNIO

/// A PostgreSQL outage for one test database, without stopping the server other tests share: the database refuses new
/// connections and its current ones are ended (what a crash or a failover looks like from a service), until ``end()``.
package struct DatabaseOutage: Sendable {
    package let url: PostgresURL
    private let admin: PostgresConnectionPool

    /// An outage of `url`'s database, not begun yet.
    package init(_ url: PostgresURL) {
        self.url = url
        admin = PostgresConnectionPool(
            url: url.with(database: "postgres"),
            logger: TestDatabase.logger,
            maximumConnections: 1,
            acquireTimeout: .seconds(TestDatabase.acquireTimeout)
        )
    }

    /// The database refuses new connections and its current ones end.
    package func begin() async throws {
        _ = try await admin.rows(PostgresQuery(unsafeSQL: "ALTER DATABASE \(url.database) ALLOW_CONNECTIONS false"))
        _ = try await admin.rows("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(url.database)")
    }

    /// The database accepts connections again.
    package func end() async throws {
        _ = try await admin.rows(PostgresQuery(unsafeSQL: "ALTER DATABASE \(url.database) ALLOW_CONNECTIONS true"))
    }

    /// Closes the administrative connection.
    package func close() async { await admin.close() }
}
