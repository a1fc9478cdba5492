import AuthStackCore
import AuthStackStorage
import Logging
import ServiceLifecycle

extension KeyServiceConfiguration {
    /// Opens (creating and migrating) the store ``database`` selects: SQLite by default, PostgreSQL (shared by
    /// replicas) when `KEYS_DATABASE_URL` is set.
    func openStore(logger: Logger) async throws -> OpenedStore<any KeyStore> {
        try await database.open(logger: logger, sqlite: { try await SQLiteKeyStore(path: $0) }, postgres: { try await PostgresKeyStore(pool: $0) })
    }
}

extension OpenedStore where Store == any KeyStore {
    /// Services to run beside the HTTP server: the pool (first, so it closes last) and, for a shared database, the
    /// sync that brings other replicas' changes (keys and clients) to this replica.
    func services(manager: KeyManager, clients: ClientManager, logger: Logger) -> [any Service] {
        guard let pool else { return [] }
        return [pool, KeyringReplicaSync(manager: manager, clients: clients, logger: logger)]
    }
}
