import AuthStackService
import Logging
import ServiceLifecycle

/// The notes service's opened store and what running it needs: SQLite by default, PostgreSQL (shared by replicas)
/// when `NOTES_DATABASE_URL` is set.
struct NoteStorage: Sendable {
    /// The store the routes use.
    let store: any NoteStore
    /// The PostgreSQL pool, if any: a service to run ahead of the HTTP server, so that it closes after the server drained.
    let pool: PostgresConnectionPool?

    /// Services to run beside the HTTP server.
    var services: [any Service] { pool.map { [$0] } ?? [] }
}

/// Opens (creating and migrating) the store `configuration` selects: PostgreSQL at `databaseURL` when set, else the
/// SQLite file at `databasePath`, its directory created if needed.
func makeNoteStore(configuration: NotesServiceConfiguration, logger: Logger) async throws -> NoteStorage {
    if let url = configuration.databaseURL {
        let (store, pool) = try await PostgresConnectionPool.open(url: url, logger: logger) { try await PostgresNoteStore(pool: $0) }
        return NoteStorage(store: store, pool: pool)
    }
    return NoteStorage(store: try await SQLiteNoteStore(path: configuration.databasePath), pool: nil)
}
