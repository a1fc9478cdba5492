import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import PostgresNIO

/// ``NoteStore`` on PostgreSQL, shared by notes-service replicas (docs/design.md §7). Same contract and same rows as
/// ``SQLiteNoteStore``: times are `bigint` microseconds (SQLite's `INTEGER`), so notes, their order and cursors are the
/// same on both backends. Each method is one `READ COMMITTED` transaction; where SQLite has its single writer, this
/// store locks:
///
/// - `create` takes a transaction-scoped advisory lock on the owner before reading the owner's newest note, so the
///   creates of one owner, on any replica, queue and each gets a time after the one before (otherwise two creates in
///   one microsecond would read the same newest note and store equal times). Different owners do not wait for each other.
/// - `update` reads the note `FOR UPDATE`, so two PATCHes of one note apply one after the other and neither loses the
///   other's field.
///
/// `id` and `owner` use the `"C"` collation: ids order byte by byte, as in SQLite and Swift, whatever the database's
/// default collation (`en_US` ignores `-` and `_` and case at first, which would reorder the notes of one microsecond).
struct PostgresNoteStore: NoteStore {
    let pool: PostgresConnectionPool

    /// Migrates the database behind `pool` (idempotent, under the migrations lock).
    init(pool: PostgresConnectionPool) async throws {
        self.pool = pool
        try await pool.migrate(component: "notes", migrations: Self.migrations)
    }

    /// The schema, step by step (numbers are never reused; a change is a new step). Same table and index as SQLite's:
    /// the index's order is the listing's, its prefix the owner filter, so neither the listing nor the newest-note
    /// lookup sorts.
    static let migrations = [
        PostgresMigration(
            version: 1,
            statements: [
                """
                CREATE TABLE notes (
                    id text COLLATE "C" PRIMARY KEY,
                    owner text COLLATE "C" NOT NULL,
                    title text NOT NULL,
                    body text NOT NULL,
                    created_at bigint NOT NULL,
                    updated_at bigint NOT NULL
                )
                """,
                "CREATE INDEX notes_by_owner_newest_first ON notes (owner, created_at DESC, id DESC)",
            ]
        )
    ]

    func create(_ draft: NoteDraft, id: String, owner: String, now: Int64) async throws -> Note {
        try await pool.transaction { connection in
            try await connection.rows("SELECT pg_advisory_xact_lock(hashtextextended('authstack-notes-owner:' || \(owner), 0))")
            let newest = try await connection.rows(Self.newest(owner: owner)).first?.decode(Int64.self)
            let createdAt = Note.creationTime(now: now, newestOfOwner: newest)
            let note = Note(id: id, title: draft.title, body: draft.body, createdAt: createdAt, updatedAt: createdAt)
            try await connection.rows(
                """
                INSERT INTO notes (id, owner, title, body, created_at, updated_at)
                VALUES (\(note.id), \(owner), \(note.title), \(note.body), \(note.createdAt), \(note.updatedAt))
                """
            )
            return note
        }
    }

    func note(id: String, owner: String) async throws -> Note? {
        try await pool.rows("SELECT \(unescaped: Self.columns) FROM notes WHERE id = \(id) AND owner = \(owner)").first.map(Self.note)
    }

    func page(owner: String, request: NotePageRequest) async throws -> NotePage {
        let query =
            request.after.map { Self.page(owner: owner, after: $0, limit: request.limit + 1) }
            ?? Self.firstPage(owner: owner, limit: request.limit + 1)
        return NotePage(rows: try await pool.rows(query).map(Self.note), limit: request.limit)
    }

    func update(id: String, owner: String, patch: NotePatch, now: Int64) async throws -> Note? {
        try await pool.transaction { connection in
            let rows = try await connection.rows("SELECT \(unescaped: Self.columns) FROM notes WHERE id = \(id) AND owner = \(owner) FOR UPDATE")
            guard let note = try rows.first.map(Self.note) else { return nil }
            guard let changed = patch.applied(to: note, now: now) else { return note }
            try await connection.rows(
                """
                UPDATE notes SET title = \(changed.title), body = \(changed.body), updated_at = \(changed.updatedAt)
                WHERE id = \(id) AND owner = \(owner)
                """
            )
            return changed
        }
    }

    func delete(id: String, owner: String) async throws -> Bool {
        try await !pool.rows("DELETE FROM notes WHERE id = \(id) AND owner = \(owner) RETURNING id").isEmpty
    }

    /// Bounded to 2 s: the pool waits for as long as the server is away, and `/readyz` must answer.
    func isReady() async -> Bool {
        await pool.answers()
    }

    // MARK: Queries (internal so that a test can check their plans)

    /// The columns of a ``Note``, in ``note(_:)`` order.
    static let columns = "id, title, body, created_at, updated_at"

    /// Creation time of the owner's newest note.
    static func newest(owner: String) -> PostgresQuery {
        "SELECT created_at FROM notes WHERE owner = \(owner) ORDER BY created_at DESC, id DESC LIMIT 1"
    }

    /// The owner's newest notes.
    static func firstPage(owner: String, limit: Int) -> PostgresQuery {
        "SELECT \(unescaped: columns) FROM notes WHERE owner = \(owner) ORDER BY created_at DESC, id DESC LIMIT \(limit)"
    }

    /// The owner's notes strictly after `cursor` in (`created_at`, `id`) descending order. The row comparison is one
    /// index condition: the scan starts right after the cursor's position instead of filtering from the newest note.
    static func page(owner: String, after cursor: NoteCursor, limit: Int) -> PostgresQuery {
        """
        SELECT \(unescaped: columns) FROM notes
        WHERE owner = \(owner) AND (created_at, id) < (\(cursor.createdAt), \(cursor.id))
        ORDER BY created_at DESC, id DESC LIMIT \(limit)
        """
    }

    private static func note(_ row: PostgresRow) throws -> Note {
        let (id, title, body, createdAt, updatedAt) = try row.decode((String, String, String, Int64, Int64).self)
        return Note(id: id, title: title, body: body, createdAt: createdAt, updatedAt: updatedAt)
    }
}
