import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// A postgres-nio client whose `run()` is active from the moment the pool is opened until it is closed.
///
/// The services open their stores while the application is being built, before its service group runs: migrations
/// and the key service's first keyring need the database then. So the pool starts the client's `run()` itself and
/// is also a `Service`: added to the application's services (ahead of the HTTP server, so that it stops after the
/// server has drained its in-flight requests), it closes the client at graceful shutdown. Dropping the last
/// reference closes it too.
public final class PostgresConnectionPool: Service, Sendable {
    /// The database, without its password.
    public let url: PostgresURL
    private let client: PostgresClient
    private let running: Task<Void, Never>
    /// Queries log nothing: their text and binds stay out of the logs whatever `LOG_LEVEL` says.
    static let silent = Logger(label: "authstack.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Opens a pool for `url` (connections are made on demand, at most `maximumConnections`).
    public init(url: PostgresURL, logger: Logger, maximumConnections: Int = 20) {
        var configuration = url.clientConfiguration
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.url = url
        self.client = client
        running = Task { await client.run() }
    }

    deinit { running.cancel() }

    /// Waits for graceful shutdown (or cancellation), then closes the pool.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    /// Closes every connection; queries after this fail.
    public func close() async {
        running.cancel()
        await running.value
    }

    /// Opens a pool for `url` and, with `open`, the store on it (opening a store migrates it). When `open` throws, the
    /// pool is closed before the error goes on, so a start-up that fails leaves no connection behind.
    public static func open<Store: Sendable>(
        url: PostgresURL, logger: Logger, store open: (PostgresConnectionPool) async throws -> Store
    ) async throws -> (store: Store, pool: PostgresConnectionPool) {
        let pool = PostgresConnectionPool(url: url, logger: logger)
        do {
            return (try await open(pool), pool)
        } catch {
            await pool.close()
            throw error
        }
    }

    /// Runs `body` in one `READ COMMITTED` transaction on one connection: committed when it returns, rolled back when
    /// it throws (its error is rethrown as it is). A deadlock or serialisation failure reruns the whole transaction,
    /// up to three times, so `body` must have no effect outside the database.
    public func transaction<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        var attempt = 1
        while true {
            do {
                return try await client.withConnection { connection in
                    try await connection.query("BEGIN", logger: Self.silent)
                    do {
                        let result = try await body(connection)
                        try await connection.query("COMMIT", logger: Self.silent)
                        return result
                    } catch {
                        _ = try? await connection.query("ROLLBACK", logger: Self.silent)
                        throw error
                    }
                }
            } catch let error as PSQLError where attempt < 3 && error.isTransient {
                attempt += 1
            }
        }
    }

    /// Whether the server answers a query within `timeout` (`/readyz`: the pool would otherwise wait for as long as
    /// the server is away).
    public func answers(within timeout: Duration = .seconds(2)) async -> Bool {
        (try? await Self.withDeadline(timeout) { try await self.rows("SELECT 1").count }) == 1
    }

    /// Runs one statement in a transaction of its own and returns its rows.
    public func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await client.query(query, logger: Self.silent).collect()
    }
}

extension PostgresConnection {
    /// Runs one statement of a transaction, never logged, and returns all its rows (statements that change rows say
    /// how many with `RETURNING`: the async API reports no affected-row count).
    @discardableResult
    public func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await self.query(query, logger: PostgresConnectionPool.silent).collect()
    }
}

extension PSQLError {
    /// The SQLSTATE the server reported, if the error came from the server.
    public var sqlState: String? { serverInfo?[.sqlState] }

    /// A unique constraint refused the row (`23505`): the constraint's name.
    public var violatedUniqueConstraint: String? {
        sqlState == "23505" ? serverInfo?[.constraintName] ?? "" : nil
    }

    /// A deadlock (`40P01`) or serialisation failure (`40001`): running the transaction again can succeed.
    var isTransient: Bool { sqlState == "40P01" || sqlState == "40001" }
}
