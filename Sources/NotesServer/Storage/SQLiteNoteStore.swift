import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import Foundation
import GRDB
import GRDBSQLite
import NIOCore

/// ``NoteStore`` on SQLite through GRDB: one file owned by this service, WAL mode (GRDB's `DatabasePool`, so reads
/// run in parallel with the one writer), migrations at start-up, and prepared statements cached per connection.
struct SQLiteNoteStore: NoteStore {
    private let database: DatabasePool
    /// The event loops' own read-only connections, for ``pageJSONNow(owner:request:)``.
    private let threadReads: ThreadReadConnections

    /// Opens (creating if needed) the database at `path` and migrates it; running it again changes nothing.
    init(path: String) async throws {
        database = try await SQLiteDatabase.open(path: path, migrator: Self.migrator)
        threadReads = ThreadReadConnections(path: path)
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
                    """
            )
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
        try await database.storageWrite { db in
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

    /// The JSON of ``page(owner:request:)`` (what `NoteJSON.page` writes), read on the calling thread, for the
    /// inline `GET /notes` (``NotesInlineResponder``): through the calling thread's own read-only connection
    /// (``ThreadReadConnections``), so the event loop answers without a hand-off, a lock or a dispatch queue. One
    /// indexed range scan of at most 101 rows; SQLite runs the lone `SELECT` in its own read transaction, so it sees
    /// one consistent snapshot, including every write committed before it began.
    ///
    /// The rows go from SQLite's column bytes straight into the response buffer through `NoteJSON.PageWriter`, the
    /// writer `NoteJSON.page` uses, with no `Note`, `String` or GRDB row in between. Every text column was written by
    /// this service from a Swift `String`, so its bytes are valid UTF-8. Not for async code (see
    /// ``ThreadReadConnections/current()``).
    func pageJSONNow(owner: String, request: NotePageRequest) throws -> ByteBuffer {
        let connection = try threadReads.current()
        let statement = try connection.statement(request.after == nil ? SQL.firstPage : SQL.pageAfter)
        return try RawPageQuery(statement).json(owner: owner, request: request)
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
        try await database.storageWrite { db in
            guard let note = try Self.note(id: id, owner: owner, db) else { return nil }
            guard let changed = patch.applied(to: note, now: now) else { return note }
            try db.cachedStatement(sql: SQL.update).execute(arguments: [changed.title, changed.body, changed.updatedAt, id, owner])
            return changed
        }
    }

    func delete(id: String, owner: String) async throws -> Bool {
        try await database.storageWrite { db in
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

/// One listing query on a prepared statement of ``SQLiteNoteStore/SQL``'s `firstPage` or `pageAfter`, through SQLite's
/// C API: bind, step, write each row's JSON, reset.
struct RawPageQuery {
    /// Why a step failed; the inline responder then leaves the request to the router, which reports it.
    struct Failure: Error {
        let code: Int32
    }

    let statement: OpaquePointer

    init(_ statement: OpaquePointer) { self.statement = statement }

    func json(owner: String, request: NotePageRequest) throws -> ByteBuffer {
        sqlite3_reset(statement)
        defer {
            // Ends the statement's read transaction (a reader left open would hold back WAL checkpoints) and drops the owner.
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        // SQLITE_TRANSIENT: SQLite copies the owner, so the binding outlives `withCString`.
        let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
        var parameter: Int32 = 1
        func bind(_ text: String) {
            _ = text.withCString { sqlite3_bind_text(statement, parameter, $0, -1, transient) }
            parameter += 1
        }
        func bind(_ value: Int64) {
            sqlite3_bind_int64(statement, parameter, value)
            parameter += 1
        }
        bind(owner)
        if let after = request.after {
            bind(after.createdAt)
            bind(after.createdAt)
            bind(after.id)
        }
        bind(Int64(request.limit + 1))

        // Room for a few short notes; the buffer doubles when a page needs more.
        var writer = NoteJSON.PageWriter(capacity: 1_024)
        var written = 0
        var last: (createdAt: Int64, id: String)?
        while true {
            let result = sqlite3_step(statement)
            if result == SQLITE_DONE { break }
            guard result == SQLITE_ROW else { throw Failure(code: result) }
            // The (limit + 1)th row only says that another page follows.
            guard written < request.limit else {
                return writer.finish(next: last.map { NoteCursor(createdAt: $0.createdAt, id: $0.id) })
            }
            // Columns: id, title, body, created_at, updated_at (SQL.columns).
            let createdAt = sqlite3_column_int64(statement, 3)
            let id = text(0)
            writer.append(id: id, title: text(1), body: text(2), createdAt: createdAt, updatedAt: sqlite3_column_int64(statement, 4))
            written += 1
            if written == request.limit { last = (createdAt, String(decoding: id, as: UTF8.self)) }
        }
        return writer.finish(next: nil)
    }

    /// Column `index` as UTF-8 bytes, valid until the next step or reset.
    private func text(_ index: Int32) -> UnsafeBufferPointer<UInt8> {
        let count = Int(sqlite3_column_bytes(statement, index))
        guard let start = sqlite3_column_text(statement, index) else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: start, count: count)
    }
}
