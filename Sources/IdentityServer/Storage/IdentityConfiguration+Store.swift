import AuthStackCore
import AuthStackStorage
import Logging

extension IdentityConfiguration {
    /// Opens (creating and migrating) the store ``database`` selects: SQLite by default, PostgreSQL (shared by
    /// replicas) when `IDENTITY_DATABASE_URL` is set.
    func openStore(logger: Logger) async throws -> OpenedStore<any IdentityStore> {
        try await database.open(
            logger: logger,
            sqlite: { try await SQLiteIdentityStore(path: $0) },
            postgres: { try await PostgresIdentityStore(pool: $0) }
        )
    }
}
