import AuthStackCore
import Logging
import ServiceLifecycle

/// Where a service keeps its data, read the same way by every service (docs/design.md §7): the SQLite file at
/// `<PREFIX>_DATABASE_PATH` by default, PostgreSQL at `<PREFIX>_DATABASE_URL` when that is set (shared by replicas).
public struct DatabaseSettings: Sendable, Equatable {
    /// The SQLite file, used unless ``url`` is set.
    public var path: String
    /// The PostgreSQL database; set, it replaces the SQLite file.
    public var url: PostgresURL?
    /// The longest a request waits for a PostgreSQL connection before it is answered 503 (`<PREFIX>_DATABASE_ACQUIRE_TIMEOUT`,
    /// default 1 s; docs/design.md §7 "When the database misbehaves").
    public var acquireTimeout: Double = 1
    /// PostgreSQL connections this process may open (`<PREFIX>_DATABASE_POOL_SIZE`, default 10): replicas × this must
    /// fit the server's `max_connections` (docs/configuration.md).
    public var poolSize = 10
    /// PostgreSQL connections kept open even when idle (`<PREFIX>_DATABASE_POOL_MIN`, default 4, at most the pool size):
    /// they serve the usual load without the idle timers that cost memory per hand-back; the rest close after 5 s idle.
    public var poolMinimum = 4

    /// Explicit settings.
    public init(path: String, url: PostgresURL? = nil) {
        self.path = path
        self.url = url
    }

    /// Reads `<PREFIX>_DATABASE_PATH` (non-empty, default `defaultPath`), `<PREFIX>_DATABASE_URL` (an empty value
    /// counts as unset, for compose `.env` files), `<PREFIX>_DATABASE_PASSWORD_FILE` (the URL's password from a file,
    /// so that it is in no process environment: the URL must then have none), the acquire timeout and the pool sizes.
    public init(prefix: String, defaultPath: String, reader: ConfigurationReader) throws(InvalidSetting) {
        path = try reader.path("\(prefix)_DATABASE_PATH", default: defaultPath)
        url = try reader.optional("\(prefix)_DATABASE_URL", accepted: "postgres://user:password@host:port/database[?sslmode=…]").map {
            text throws(InvalidSetting) in
            try PostgresURL(text, variable: "\(prefix)_DATABASE_URL")
        }
        if let password = try reader.secretFile("\(prefix)_DATABASE_PASSWORD_FILE") {
            guard let withoutPassword = url else {
                throw InvalidSetting(
                    variable: "\(prefix)_DATABASE_PASSWORD_FILE",
                    reason: "needs \(prefix)_DATABASE_URL (the password of which it is)"
                )
            }
            guard !withoutPassword.hasPassword else {
                throw InvalidSetting(
                    variable: "\(prefix)_DATABASE_URL",
                    reason: "must not contain a password when \(prefix)_DATABASE_PASSWORD_FILE is set"
                )
            }
            url = withoutPassword.with(password: password)
        }
        acquireTimeout = try reader.seconds("\(prefix)_DATABASE_ACQUIRE_TIMEOUT", default: acquireTimeout, in: 0.1...60)
        poolSize = try reader.integer("\(prefix)_DATABASE_POOL_SIZE", default: poolSize, in: 1...200)
        poolMinimum = try reader.integer("\(prefix)_DATABASE_POOL_MIN", default: poolMinimum, in: 0...200)
        guard poolMinimum <= poolSize else {
            throw InvalidSetting(variable: "\(prefix)_DATABASE_POOL_MIN", reason: "must not exceed \(prefix)_DATABASE_POOL_SIZE (\(poolSize))")
        }
    }

    /// Opens (creating and migrating) the store these settings select: `postgres` on a new pool when a URL is set,
    /// else `sqlite` on the file, its directory created if needed.
    public func open<Store: Sendable>(
        logger: Logger,
        sqlite: (String) async throws -> Store,
        postgres: (PostgresConnectionPool) async throws -> Store
    ) async throws -> OpenedStore<Store> {
        if let url {
            let (store, pool) = try await PostgresConnectionPool.open(
                url: url,
                logger: logger,
                maximumConnections: poolSize,
                minimumConnections: poolMinimum,
                acquireTimeout: .milliseconds(Int64(acquireTimeout * 1000)),
                store: postgres
            )
            return OpenedStore(store: store, pool: pool)
        }
        return OpenedStore(store: try await sqlite(path), pool: nil)
    }
}

/// A service's opened store and what running it needs.
public struct OpenedStore<Store: Sendable>: Sendable {
    /// The store the service works on.
    public let store: Store
    /// The PostgreSQL pool, if any: a service to run ahead of the HTTP server, so that it closes after the server
    /// drained.
    public let pool: PostgresConnectionPool?

    /// Services to run beside the HTTP server.
    public var services: [any Service] { pool.map { [$0] } ?? [] }
}
