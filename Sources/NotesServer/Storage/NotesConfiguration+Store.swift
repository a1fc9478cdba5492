import AuthStackCore
import AuthStackStorage
import Logging

extension NotesServiceConfiguration {
    /// Opens (creating and migrating) the store ``database`` selects: SQLite by default, PostgreSQL (shared by
    /// replicas) when `NOTES_DATABASE_URL` is set.
    func openStore(logger: Logger) async throws -> OpenedStore<any NoteStore> {
        try await database.open(logger: logger, sqlite: { try await SQLiteNoteStore(path: $0) }, postgres: { try await PostgresNoteStore(pool: $0) })
    }
}
