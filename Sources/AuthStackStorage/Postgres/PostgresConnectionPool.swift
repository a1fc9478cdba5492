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
///
/// Every statement goes through ``PostgresConnection/rows(_:)``, which never waits for an answer that cannot come
/// (see there): a connection the server has just closed fails the statement, and a statement that was never sent is
/// run again on another connection. ``answers(within:)`` and ``close()`` do not wait past their deadlines, whatever
/// postgres-nio is waiting for.
public final class PostgresConnectionPool: Service, Sendable {
    /// The database, without its password.
    public let url: PostgresURL
    private let client: PostgresClient
    private let running: Task<Void, Never>
    private let logger: Logger
    /// Queries log nothing: their text and binds stay out of the logs whatever `LOG_LEVEL` says.
    static let silent = Logger(label: "authstack.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    /// How long ``close()`` waits for the client's background work to end: a connection attempt in flight ends within
    /// its 5 s connect timeout.
    static let closeTimeout: Duration = .seconds(10)

    /// Opens a pool for `url` (connections are made on demand, at most `maximumConnections`), its connections on
    /// `eventLoopGroup` (NIO's shared one unless a test needs loops of its own).
    public init(
        url: PostgresURL,
        logger: Logger,
        maximumConnections: Int = 20,
        eventLoopGroup: any EventLoopGroup = PostgresClient.defaultEventLoopGroup
    ) {
        var configuration = url.clientConfiguration
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration, eventLoopGroup: eventLoopGroup, backgroundLogger: logger)
        self.url = url
        self.client = client
        self.logger = logger
        running = Task { await client.run() }
    }

    deinit { running.cancel() }

    /// Waits for graceful shutdown (or cancellation), then closes the pool.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    /// Closes every connection; queries after this fail. Returns once the client's background work has ended, or
    /// after ``closeTimeout`` at the latest: postgres-nio's own keep-alive query can be written to a connection in
    /// the instant the server closes it and then never completes (see ``PostgresConnection/rows(_:)``), and the
    /// client's `run()` waits for it. A service must stop all the same; the connections are closed either way.
    public func close() async {
        running.cancel()
        let running = self.running
        do {
            try await Self.withDeadline(Self.closeTimeout) { await running.value }
        } catch is PostgresTimeoutError {
            logger.warning(
                "PostgreSQL client did not finish closing; going on without it",
                metadata: ["database": "\(url)", "timeout": "\(Self.closeTimeout)"]
            )
        } catch {
            // Cancelled: whoever closes no longer waits.
        }
    }

    /// Opens a pool for `url` and, with `open`, the store on it (opening a store migrates it). When `open` throws, the
    /// pool is closed before the error goes on, so a start-up that fails leaves no connection behind.
    public static func open<Store: Sendable>(
        url: PostgresURL,
        logger: Logger,
        store open: (PostgresConnectionPool) async throws -> Store
    ) async throws -> (store: Store, pool: PostgresConnectionPool) {
        let pool = PostgresConnectionPool(url: url, logger: logger)
        do {
            return (try await open(pool), pool)
        } catch {
            await pool.close()
            throw error
        }
    }

    /// How many times a transaction or statement is run before its error is thrown: a deadlock, a serialisation
    /// failure, or a connection that turned out closed before anything was sent on it.
    static let attempts = 3

    /// Runs `body` in one `READ COMMITTED` transaction on one connection: committed when it returns, rolled back when
    /// it throws (its error is rethrown as it is). A deadlock or serialisation failure reruns the whole transaction,
    /// up to three times, so `body` must have no effect outside the database; so does a connection found closed before
    /// a statement (`COMMIT` included) was sent on it, since the transaction cannot have committed then.
    public func transaction<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        var attempt = 1
        while true {
            do {
                return try await client.withConnection { connection in
                    try await connection.rows("BEGIN")
                    do {
                        let result = try await body(connection)
                        try await connection.rows("COMMIT")
                        return result
                    } catch {
                        _ = try? await connection.rows("ROLLBACK")
                        throw error
                    }
                }
            } catch let error as PSQLError where attempt < Self.attempts && error.isTransient {
                attempt += 1
            } catch is PostgresConnectionClosedError where attempt < Self.attempts {
                attempt += 1
            }
        }
    }

    /// Whether the server answers a query within `timeout` (`/readyz`: the pool would otherwise wait for as long as
    /// the server is away).
    public func answers(within timeout: Duration = .seconds(2)) async -> Bool {
        (try? await Self.withDeadline(timeout) { try await self.rows("SELECT 1").count }) == 1
    }

    /// Runs one statement in a transaction of its own and returns its rows (run again on another connection when the
    /// one it was given turned out closed before the statement was sent).
    public func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        var attempt = 1
        while true {
            do {
                return try await client.withConnection { try await $0.rows(query) }
            } catch is PostgresConnectionClosedError where attempt < Self.attempts {
                attempt += 1
            }
        }
    }
}

/// A statement was not sent because its connection had closed (the server ended it, say): nothing of it reached the
/// server, so running it again on another connection is safe.
public struct PostgresConnectionClosedError: Error, CustomStringConvertible {
    public var description: String { "the connection to PostgreSQL closed before the statement was sent" }
}

extension PostgresConnection {
    /// Runs one statement of a transaction, never logged, and returns all its rows (statements that change rows say
    /// how many with `RETURNING`: the async API reports no affected-row count).
    ///
    /// The statement is handed to the connection on its event loop, and only while the connection is open; a closed
    /// one throws ``PostgresConnectionClosedError`` without sending anything.
    ///
    /// postgres-nio's own query methods write the statement to the channel from the caller's thread with no promise
    /// for the write. When the server ends a connection (`pg_terminate_backend`, a restart), the channel closes on its
    /// event loop, which then removes the channel's handlers and only after that tells the pool. A statement given the
    /// connection in between reaches the event loop after the handlers are gone: the write fails silently and the
    /// statement's result is never completed, so the caller waits forever, deaf to cancellation (`/readyz` hung that
    /// way after the database ended the pool's connections, in 2–3 % of tries in a loop that ends a connection and
    /// queries at once). On the event loop, an open channel cannot close before the write has reached its handler,
    /// which then always completes the statement: with its rows, or with an error if the connection closes under it.
    @discardableResult
    public func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await eventLoop.flatSubmit { [self] () -> EventLoopFuture<PostgresQueryResult> in
            guard !isClosed else { return eventLoop.makeFailedFuture(PostgresConnectionClosedError()) }
            return self.query(query, logger: PostgresConnectionPool.silent)
        }.get().rows
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
