import AuthStackService
import Foundation
import Logging
import ServiceLifecycle

/// The identity service's opened store and what running it needs: SQLite by default, PostgreSQL (shared by
/// replicas) when `IDENTITY_DATABASE_URL` is set.
struct IdentityStorage: Sendable {
    /// The store the routes and maintenance use.
    let store: any IdentityStore
    /// The PostgreSQL pool, if any: a service to run ahead of the HTTP server, so that it closes after the server drained.
    let pool: PostgresConnectionPool?

    /// Services to run beside the HTTP server.
    var services: [any Service] { pool.map { [$0] } ?? [] }
}

/// Opens (creating and migrating) the store `configuration` selects: PostgreSQL at `databaseURL` when set, else the
/// SQLite file at `databasePath`, its directory created if needed.
func makeIdentityStore(configuration: IdentityConfiguration, logger: Logger) async throws -> IdentityStorage {
    if let url = configuration.databaseURL {
        let (store, pool) = try await PostgresConnectionPool.open(url: url, logger: logger) { try await PostgresIdentityStore(pool: $0) }
        return IdentityStorage(store: store, pool: pool)
    }
    return IdentityStorage(store: try await SQLiteIdentityStore(path: configuration.databasePath), pool: nil)
}
