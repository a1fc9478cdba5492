import AuthStackTestSupport

@testable import NotesServer

extension TestDatabase {
    /// A notes-service configuration that selects this database.
    var notesConfiguration: NotesServiceConfiguration {
        var configuration = NotesServiceConfiguration()
        configuration.database = settings(file: "notes.sqlite")
        return configuration
    }

    /// Opens a note store on this database, as the notes service does.
    func noteStore() async throws -> any NoteStore {
        adopt(try await notesConfiguration.openStore(logger: Self.logger))
    }

    /// Runs `sql` (written so that both SQLite and PostgreSQL take it) on the notes database behind the store's back,
    /// for tests that plant rows or break the schema.
    func executeOnNotesDatabase(_ sql: String) async throws {
        try await execute(sql, sqliteFile: "notes.sqlite")
    }
}
