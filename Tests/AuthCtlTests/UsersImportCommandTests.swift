import ArgumentParser
import Foundation
import GRDB
import Testing

@testable import AuthCtl

/// `authctl users import FILE --database PATH` runs the identity service's import into that database and reports it;
/// a second run skips the users already there (the import itself: IdentityServerTests' `UserImportTests`).
@Suite struct UsersImportCommandTests {
    static let export = """
        [{"id": 1, "username": "alice", "password": "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e"}]
        """

    @Test func importsIntoTheGivenDatabase() async throws {
        let file = NSTemporaryDirectory() + "import-\(UUID().uuidString).json"
        try Self.export.write(toFile: file, atomically: true, encoding: .utf8)
        let database = NSTemporaryDirectory() + "import-\(UUID().uuidString)/identity.sqlite"
        for _ in 0..<2 {
            let command = try #require(try AuthCtl.parseAsRoot(["users", "import", file, "--database", database]) as? ImportUsersCommand)
            try await command.run()
        }
        let stored = try await DatabaseQueue(path: database).read { db in
            try String.fetchAll(db, sql: "SELECT password_hash FROM users WHERE username_key = 'alice'")
        }
        #expect(stored.count == 1, "imported once, skipped the second time")
        #expect(stored.first?.hasPrefix("$2b$") == true, "the bcrypt hash is kept until the user's next login")
    }

    @Test func aBadDatabaseURLIsAUsageErrorAndWritesNothing() async throws {
        let file = NSTemporaryDirectory() + "import-\(UUID().uuidString).json"
        try Self.export.write(toFile: file, atomically: true, encoding: .utf8)
        let command = try #require(try AuthCtl.parseAsRoot(["users", "import", file, "--database-url", "mysql://u@h/d"]) as? ImportUsersCommand)
        await #expect(throws: ValidationError.self) { try await command.run() }
    }
}
