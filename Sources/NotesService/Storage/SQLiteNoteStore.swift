import AuthStackService
import Foundation
import GRDB

/// ``NoteStore`` on SQLite through GRDB: one file owned by this service, WAL mode (GRDB's `DatabasePool`, so reads
/// run in parallel with the one writer), migrations at start-up, and prepared statements cached per connection.
struct SQLiteNoteStore: NoteStore {
    private let database: DatabasePool

    /// Opens (creating if needed) the database at `path` and migrates it; running it again changes nothing.
    init(path: String) async throws {
        database = try await SQLiteDatabase.open(path: path, migrator: Self.migrator)
    }

    /// The schema, one migration per step; GRDB records which ran, so start-up applies only new ones.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1-notes") { db in
            // Times are integer microseconds since the epoch (UTC). The index serves both the listing (its order is the
            // ORDER BY, its prefix the owner filter, so no sort step) and the "newest note of the owner" lookup on create.
            try db.execute(
                sql: """
                    CREATE TABLE notes (
                        id TEXT PRIMARY KEY NOT NULL,
                        owner TEXT NOT NULL,
                        title TEXT NOT NULL,
                        body TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL
                    );
                    CREATE INDEX notes_by_owner_newest_first ON notes (owner, created_at DESC, id DESC);
                    """)
        }
        return migrator
    }

    /// The statements, built once: the per-connection statement cache is keyed by the SQL text. (Internal so that a
    /// test can check their query plans.)
    enum SQL {
        /// The columns of a ``Note``, in `Note.init(row:)` order.
        static let columns = "id, title, body, created_at, updated_at"
        /// Creation time of the owner's newest note.
        static let newest = "SELECT created_at FROM notes WHERE owner = ? ORDER BY created_at DESC, id DESC LIMIT 1"
        /// A new note.
        static let insert = "INSERT INTO notes (id, owner, title, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
        /// One note of the owner.
        static let select = "SELECT \(columns) FROM notes WHERE id = ? AND owner = ?"
        /// The owner's newest notes.
        static let firstPage = "SELECT \(columns) FROM notes WHERE owner = ? ORDER BY created_at DESC, id DESC LIMIT ?"
        /// The owner's notes after a cursor. `created_at <= ?` bounds the index range; the OR then drops the cursor's own
        /// note and the notes of the same microsecond that come before it (larger ids).
        static let pageAfter = """
            SELECT \(columns) FROM notes
            WHERE owner = ? AND created_at <= ? AND (created_at < ? OR id < ?)
            ORDER BY created_at DESC, id DESC LIMIT ?
            """
        /// New title, body and update time.
        static let update = "UPDATE notes SET title = ?, body = ?, updated_at = ? WHERE id = ? AND owner = ?"
        /// Removes a note of the owner.
        static let delete = "DELETE FROM notes WHERE id = ? AND owner = ?"
        /// Readiness.
        static let ping = "SELECT 1"
    }

    func create(_ draft: NoteDraft, id: String, owner: String, now: Int64) async throws -> Note {
        try await database.write { db in
            let newest = try Int64.fetchOne(db.cachedStatement(sql: SQL.newest), arguments: [owner])
            let createdAt = Note.creationTime(now: now, newestOfOwner: newest)
            let note = Note(id: id, title: draft.title, body: draft.body, createdAt: createdAt, updatedAt: createdAt)
            try db.cachedStatement(sql: SQL.insert).execute(arguments: [note.id, owner, note.title, note.body, note.createdAt, note.updatedAt])
            return note
        }
    }

    func note(id: String, owner: String) async throws -> Note? {
        try await database.read { db in try Self.note(id: id, owner: owner, db) }
    }

    func page(owner: String, request: NotePageRequest) async throws -> NotePage {
        try await database.read { db in try Self.page(owner: owner, request: request, db) }
    }

    /// ``page(owner:request:)`` on the calling thread, for the inline `GET /notes` (``NotesInlineResponder``): GRDB
    /// runs a synchronous read on the caller's thread with one of the pool's reader connections (WAL: never waits for
    /// the writer), so the event loop answers without a hand-off. One indexed range scan of at most 101 rows.
    ///
    /// `unsafeRead` skips the `BEGIN`/`COMMIT` that `read` wraps around its closure (≈ a third of the read's cost here):
    /// the closure runs exactly one `SELECT`, and SQLite runs a lone statement in its own read transaction, so it sees
    /// one consistent snapshot all the same.
    func pageNow(owner: String, request: NotePageRequest) throws -> NotePage {
        try database.unsafeRead { db in try Self.page(owner: owner, request: request, db) }
    }

    private static func page(owner: String, request: NotePageRequest, _ db: Database) throws -> NotePage {
        let statement: Statement
        let arguments: StatementArguments
        if let after = request.after {
            statement = try db.cachedStatement(sql: SQL.pageAfter)
            arguments = [owner, after.createdAt, after.createdAt, after.id, request.limit + 1]
        } else {
            statement = try db.cachedStatement(sql: SQL.firstPage)
            arguments = [owner, request.limit + 1]
        }
        return NotePage(rows: try Note.fetchAll(statement, arguments: arguments), limit: request.limit)
    }

    func update(id: String, owner: String, patch: NotePatch, now: Int64) async throws -> Note? {
        try await database.write { db in
            guard let note = try Self.note(id: id, owner: owner, db) else { return nil }
            guard let changed = patch.applied(to: note, now: now) else { return note }
            try db.cachedStatement(sql: SQL.update).execute(arguments: [changed.title, changed.body, changed.updatedAt, id, owner])
            return changed
        }
    }

    func delete(id: String, owner: String) async throws -> Bool {
        try await database.write { db in
            try db.cachedStatement(sql: SQL.delete).execute(arguments: [id, owner])
            return db.changesCount > 0
        }
    }

    func isReady() async -> Bool {
        (try? await database.read { db in try Int.fetchOne(db.cachedStatement(sql: SQL.ping)) }) == 1
    }

    private static func note(id: String, owner: String, _ db: Database) throws -> Note? {
        try Note.fetchOne(db.cachedStatement(sql: SQL.select), arguments: [id, owner])
    }
}

extension Note: FetchableRecord {
    /// A row of `SQLiteNoteStore.SQL.columns`. GRDB calls this while the row is still the statement's current row, so
    /// the values are decoded straight from SQLite without an intermediate copy.
    init(row: Row) {
        self.init(id: row[0], title: row[1], body: row[2], createdAt: row[3], updatedAt: row[4])
    }
}
