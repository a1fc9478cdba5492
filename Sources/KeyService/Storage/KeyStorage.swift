import AuthStackService
import Foundation
import Logging
import ServiceLifecycle

/// The key service's opened store and what running it needs: SQLite by default, PostgreSQL when
/// `KEYS_DATABASE_URL` is set.
struct KeyStorage: Sendable {
    /// The store the key manager works on.
    let store: any KeyStore
    /// The PostgreSQL pool, when the store is shared with other replicas.
    let pool: PostgresConnectionPool?

    /// Services to run beside the HTTP server: the pool (first, so it closes last) and, for a shared database, the
    /// sync that brings other replicas' changes to this replica's long-pollers.
    func services(manager: KeyManager, logger: Logger) -> [any Service] {
        guard let pool else { return [] }
        return [pool, KeyringReplicaSync(manager: manager, logger: logger)]
    }
}

/// Opens (creating and migrating) the store `configuration` selects: PostgreSQL at `databaseURL` when set, else the
/// SQLite file at `databasePath`, its directory created if needed.
func makeKeyStore(configuration: KeyServiceConfiguration, logger: Logger) async throws -> KeyStorage {
    if let url = configuration.databaseURL {
        let (store, pool) = try await PostgresConnectionPool.open(url: url, logger: logger) { try await PostgresKeyStore(pool: $0) }
        return KeyStorage(store: store, pool: pool)
    }
    return KeyStorage(store: try await SQLiteKeyStore(path: configuration.databasePath), pool: nil)
}
