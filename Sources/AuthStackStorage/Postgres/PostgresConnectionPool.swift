import AuthStackCore
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

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
///
/// When the server is away (docs/design.md §7 "When the database misbehaves"), postgres-nio keeps every caller waiting
/// for a connection while it retries in the background: a request used to hang for a minute and then answer 500. Here
/// the first failed connection attempt makes the pool unavailable (``PostgresAvailability``): every caller is then
/// refused at once with ``StorageUnavailable`` (a 503 with `Retry-After`), while one probe every ``probeInterval`` asks
/// the server for `SELECT 1`; its first answer opens the pool again. A caller also waits at most ``acquireTimeout`` for
/// a connection: a server that accepts connections and never answers, or a pool busy for that long, refuses that
/// caller alone. A statement cut off by
/// the server going away, and the server's own "come back later" errors (too many connections, disk full, shutting
/// down), are ``StorageUnavailable`` too. Each episode is logged once when it begins and once when it ends.
public final class PostgresConnectionPool: Service, Sendable {
    /// The database, without its password.
    public let url: PostgresURL
    private let client: PostgresClient
    private let running: Task<Void, Never>
    private let logger: Logger
    /// The longest a caller waits for a connection (`<PREFIX>_DATABASE_ACQUIRE_TIMEOUT`, default 1 s).
    public let acquireTimeout: Duration
    /// How often a probe asks an unavailable server whether it is back.
    static let probeInterval: Duration = .milliseconds(500)
    private let availability: PostgresAvailability
    /// Where acquisition timers run: an event loop's scheduled task is freed when cancelled, a `Task.sleep` is not.
    private let timers: any EventLoopGroup

    /// Queries log nothing: their text and binds stay out of the logs whatever `LOG_LEVEL` says.
    static let silent = Logger(label: "authstack.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    /// How long ``close()`` waits for the client's background work to end: a connection attempt in flight ends within
    /// its 5 s connect timeout.
    static let closeTimeout: Duration = .seconds(10)

    /// Opens a pool for `url` (connections are made on demand, at most `maximumConnections`), its connections on
    /// `eventLoopGroup` (NIO's shared one unless a test needs loops of its own). A connection attempt that has not
    /// logged in within `connectTimeout` fails.
    ///
    /// Memory (issue 23): postgres-nio starts a keep-alive timer and, above `minimumConnections`, an idle timer each
    /// time a connection is handed back, and cancels them at the next lease; Swift 6.3.1 keeps a cancelled `Task.sleep`
    /// allocated until its deadline (swiftlang/swift#60441), about 0.75 KB each, so at 3,300 hand-backs a second a
    /// replica grew by 220 MiB. So keep-alive is off (a restarted server or an ended backend is still noticed, by the
    /// next statement), the first `minimumConnections` connections stay open without an idle timer, and the others close
    /// after 5 s idle, which bounds what their timers hold.
    public init(
        url: PostgresURL,
        logger: Logger,
        maximumConnections: Int = 10,
        minimumConnections: Int = 0,
        acquireTimeout: Duration = .seconds(1),
        connectTimeout: Duration = .seconds(5),
        eventLoopGroup: any EventLoopGroup = PostgresClient.defaultEventLoopGroup
    ) {
        var configuration = url.clientConfiguration
        configuration.options.maximumConnections = maximumConnections
        configuration.options.minimumConnections = min(minimumConnections, maximumConnections)
        configuration.options.keepAliveBehavior = nil
        configuration.options.connectionIdleTimeout = .seconds(5)
        configuration.options.connectTimeout = connectTimeout
        let availability = PostgresAvailability(logger: logger, database: "\(url)")
        let backgroundLogger = Logger(label: logger.label) { _ in ConnectionEventsLogHandler(base: logger, availability: availability) }
        let client = PostgresClient(configuration: configuration, eventLoopGroup: eventLoopGroup, backgroundLogger: backgroundLogger)
        self.url = url
        self.client = client
        self.logger = logger
        self.acquireTimeout = acquireTimeout
        self.availability = availability
        self.timers = eventLoopGroup
        running = Task { await client.run() }
        let running = self.running
        availability.onUnavailable { Task { await Self.probe(client, availability, until: running) } }
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
        maximumConnections: Int = 10,
        minimumConnections: Int = 0,
        acquireTimeout: Duration = .seconds(1),
        store open: (PostgresConnectionPool) async throws -> Store
    ) async throws -> (store: Store, pool: PostgresConnectionPool) {
        let pool = PostgresConnectionPool(
            url: url,
            logger: logger,
            maximumConnections: maximumConnections,
            minimumConnections: minimumConnections,
            acquireTimeout: acquireTimeout
        )
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
    public func transaction<Result: Sendable>(_ body: sending @escaping (PostgresConnection) async throws -> Result) async throws -> Result {
        try await withAvailableConnection {
            var attempt = 1
            while true {
                do {
                    return try await $0 { connection in
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
    }

    /// Whether the server answers a query within `timeout` (`/readyz`: the pool would otherwise wait for as long as
    /// the server is away). An unavailable pool answers no at once.
    public func answers(within timeout: Duration = .seconds(2)) async -> Bool {
        (try? await Self.withDeadline(timeout) { try await self.rows("SELECT 1").count }) == 1
    }

    /// Runs one statement in a transaction of its own and returns its rows (run again on another connection when the
    /// one it was given turned out closed before the statement was sent).
    public func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await withAvailableConnection {
            var attempt = 1
            while true {
                do {
                    return try await $0 { try await $0.rows(query) }
                } catch is PostgresConnectionClosedError where attempt < Self.attempts {
                    attempt += 1
                }
            }
        }
    }

    /// A way to run a closure on a leased connection; ``withAvailableConnection(_:)`` hands one to its operation.
    public typealias Lease<Result: Sendable> = (_ body: (PostgresConnection) async throws -> Result) async throws -> Result

    /// Runs `operation`, which leases connections through the function it is given, if the database is available:
    /// refused at once while it is not; given up after ``acquireTimeout`` when no connection comes (the pool is then
    /// unavailable, and a probe starts); and with errors that mean "the database cannot serve now" turned into
    /// ``StorageUnavailable``. Errors of `operation`'s own (a unique violation, say) pass as they are.
    func withAvailableConnection<Result: Sendable>(
        _ operation: sending @escaping (_ lease: Lease<Result>) async throws -> Result
    ) async throws -> Result {
        try availability.check()
        let client = self.client
        let timeout = TimeAmount.nanoseconds(Int64((acquireTimeout / .nanoseconds(1)).rounded()))
        let timers = self.timers
        let availability = self.availability
        // `operation` was sent to this call and is used by the work task alone.
        let transferred = Transferred(operation)
        // As in ``withDeadline(_:_:)``: the work runs in a task of its own, cancelled but not awaited when the caller
        // stops waiting, since a postgres-nio call may ignore cancellation. Every lease (a transaction run again leases
        // again) waits at most `timeout`, and no longer than until a connection attempt fails; its race makes sure that
        // a caller told "unavailable" never has its statements run later on a connection that came too late.
        let (outcome, continuation) = AsyncThrowingStream.makeStream(of: Result.self)
        let work = Task {
            do {
                let result = try await transferred.value { body in
                    let race = LeaseRace()
                    let waiter = availability.wait(.init(race: race) { continuation.finish(throwing: $0) })
                    // Only the wait for a connection is bounded; a statement that has one runs to its end.
                    let timer = timers.any().scheduleTask(in: timeout) {
                        if race.abandoned() { continuation.finish(throwing: StorageUnavailable(.unreachable)) }
                    }
                    defer {
                        timer.cancel()
                        availability.leave(waiter)
                    }
                    return try await client.withConnection { connection in
                        guard race.leased() else { throw CancellationError() }
                        availability.leave(waiter)
                        return try await body(connection)
                    }
                }
                continuation.yield(result)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        defer {
            work.cancel()
            continuation.finish()
        }
        do {
            for try await result in outcome { return result }
            throw CancellationError()
        } catch {
            guard let unavailable = Self.unavailability(error) else { throw error }
            throw unavailable
        }
    }

    /// The ``StorageUnavailable`` an error means, if it means one: the server went away under a statement, or said it
    /// cannot serve now (SQLSTATE class 53, insufficient resources; class 57P, shutting down or starting up).
    public static func unavailability(_ error: any Error) -> StorageUnavailable? {
        switch error {
        case let unavailable as StorageUnavailable:
            return unavailable
        case is PostgresConnectionClosedError:
            return StorageUnavailable(.unreachable)
        case let error as PSQLError:
            switch error.sqlState {
            case "53100": return StorageUnavailable(.diskFull)
            case "53300", "53400": return StorageUnavailable(.tooManyConnections)
            case "57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004": return StorageUnavailable(.unreachable)
            case nil:
                // Not from the server: the connection failed or closed under the statement.
                switch error.code {
                case .serverClosedConnection, .connectionError, .uncleanShutdown, .clientClosedConnection, .poolClosed:
                    return StorageUnavailable(.unreachable)
                default: return nil
                }
            default: return nil
            }
        default:
            return nil
        }
    }

    /// Asks the server for `SELECT 1` every ``probeInterval`` until it answers (the database is then available again)
    /// or the pool closes: while callers are refused, nothing else would make postgres-nio try to connect.
    private static func probe(_ client: PostgresClient, _ availability: PostgresAvailability, until running: Task<Void, Never>) async {
        defer { availability.probeEnded() }
        while !running.isCancelled {
            try? await Task.sleep(for: probeInterval)
            let answered = (try? await withDeadline(.seconds(2)) { try await client.withConnection { try await $0.rows("SELECT 1").count } }) == 1
            if answered {
                availability.connected()
                return
            }
        }
    }

    /// Whether callers may currently ask for connections (false during an outage episode).
    public var isAvailable: Bool { availability.isAvailable }
}

/// A value handed from one task to another that alone uses it afterwards.
private struct Transferred<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
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
