import Foundation
import PostgresNIO

/// One numbered schema step of a store: statements run in order, in the migration's transaction.
public struct PostgresMigration: Sendable {
    /// Position in the component's history, from 1; never renumbered once released.
    public let version: Int
    /// One SQL statement each (the extended query protocol takes one at a time).
    public let statements: [String]

    /// A step numbered `version`.
    public init(version: Int, statements: [String]) {
        self.version = version
        self.statements = statements
    }
}

/// PostgreSQL could not be used at start-up. The description names the database without its password and says what
/// went wrong, in the server's words when it answered.
public struct PostgresUnavailableError: Error, CustomStringConvertible {
    /// `cannot use PostgreSQL at <url without password>: <reason>`.
    public let description: String

    init(url: PostgresURL, error: any Error) {
        description = "cannot use PostgreSQL at \(url): \(Self.reason(error))"
    }

    /// What a start-up failure was, without queries or bound values (PSQLError's own description says nothing, and
    /// its debug description can quote binds).
    static func reason(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return String(describing: error) }
        if let message = error.serverInfo?[.message] { return "\(message) (SQLSTATE \(error.sqlState ?? "?"))" }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "\(error.code)"
    }
}

extension PostgresConnectionPool {
    /// Applies the `migrations` of `component` that the database has not seen, in one transaction, under a
    /// transaction-scoped advisory lock that every AuthStack component shares: replicas starting together migrate one
    /// after the other and each finds the others' work done. Applied steps are recorded in
    /// `authstack_schema_migrations (component, version)`, so running it again changes nothing. PostgreSQL's DDL is
    /// transactional: a failed step leaves the schema as it was, and the lock ends with the transaction even when the
    /// connection dies. Gives up with ``PostgresUnavailableError`` when the server refuses (wrong password, no such
    /// database) or does not answer within `timeout`.
    public func migrate(component: String, migrations: [PostgresMigration], timeout: Duration = .seconds(30)) async throws {
        try await probe(timeout: timeout)
        do {
            try await Self.withDeadline(timeout) {
                try await self.transaction { connection in
                    try await connection.rows("SELECT pg_advisory_xact_lock(hashtextextended('authstack-schema-migrations', 0))")
                    try await connection.rows(
                        """
                        CREATE TABLE IF NOT EXISTS authstack_schema_migrations (
                            component text NOT NULL, version bigint NOT NULL, applied_at double precision NOT NULL,
                            PRIMARY KEY (component, version))
                        """
                    )
                    var applied: Set<Int> = []
                    for row in try await connection.rows("SELECT version FROM authstack_schema_migrations WHERE component = \(component)") {
                        applied.insert(try row.decode(Int.self))
                    }
                    for migration in migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(migration.version) {
                        for statement in migration.statements { try await connection.rows(PostgresQuery(unsafeSQL: statement)) }
                        let now = Date().timeIntervalSince1970
                        try await connection.rows(
                            """
                            INSERT INTO authstack_schema_migrations (component, version, applied_at)
                            VALUES (\(component), \(migration.version), \(now))
                            """
                        )
                    }
                }
            }
        } catch {
            throw PostgresUnavailableError(url: url, error: error)
        }
    }
}

extension PostgresConnectionPool {
    /// Connects once, outside the pool, which retries failed connections silently for as long as a request waits:
    /// a refusal by the server (wrong password, no such database) is reported at once in its own words, while an
    /// unreachable server (still starting, say) is tried again every second until `timeout`.
    func probe(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: try url.connectionConfiguration(),
                    id: 0,
                    logger: PostgresConnectionPool.silent
                )
                try? await connection.close()
                return
            } catch let error as PSQLError where error.serverInfo != nil {
                throw PostgresUnavailableError(url: url, error: error)
            } catch {
                guard ContinuousClock.now + .seconds(1) < deadline else { throw PostgresUnavailableError(url: url, error: error) }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}

/// The database did not answer in time.
struct PostgresTimeoutError: Error, CustomStringConvertible {
    let timeout: Duration
    var description: String { "no answer within \(timeout)" }
}

extension PostgresConnectionPool {
    /// Runs `operation` and returns its result, or throws ``PostgresTimeoutError`` when `timeout` passes first (or
    /// `CancellationError` when the caller is cancelled first), cancelling `operation`: the pool keeps retrying an
    /// unreachable server for as long as a request waits, and start-up, `/readyz` and shutdown must not wait forever.
    ///
    /// `operation` runs in a task of its own that is cancelled but not awaited at the deadline. A task group would
    /// wait for it at its end, and a postgres-nio call that ignores cancellation (a result awaited from a server that
    /// no longer answers, the client's `run()` waiting for such a call) would then hold the caller as long as it
    /// holds the operation, the deadline notwithstanding.
    public static func withDeadline<Result: Sendable>(
        _ timeout: Duration,
        _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        // Whichever ends first — the operation, the timer, or the caller's cancellation — ends the wait: the stream's
        // first element or error, or `nil` once the waiting task is cancelled.
        let (outcome, continuation) = AsyncThrowingStream.makeStream(of: Result.self)
        let work = Task {
            do {
                continuation.yield(try await operation())
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        let timer = Task {
            try await Task.sleep(for: timeout)
            continuation.finish(throwing: PostgresTimeoutError(timeout: timeout))
        }
        defer {
            work.cancel()
            timer.cancel()
            continuation.finish()
        }
        for try await result in outcome { return result }
        throw CancellationError()
    }
}
