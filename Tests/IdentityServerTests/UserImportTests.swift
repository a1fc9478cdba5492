import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import AuthStackTestSupport
import Foundation
import GRDB
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import IdentityServer

/// Users of the original Express app come over with their bcrypt hashes, log in with their old passwords, and are
/// rehashed to scrypt on that login (``LegacyUserImport``, which `authctl users import` runs: AuthCtlTests).
@Suite struct UserImportTests {
    static let export = """
        [
          {"id": 1, "username": "alice", "password": "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e"},
          {"id": "7f3c", "username": "Bob", "password": "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"}
        ]
        """

    private func storedHash(_ username: String, database: String) throws -> String? {
        try DatabaseQueue(path: database).read { db in
            try String.fetchOne(db, sql: "SELECT password_hash FROM users WHERE username_key = ?", arguments: [username.lowercased()])
        }
    }

    @Test func importedUsersLogInWithTheirOldPasswordsAndAreRehashed() async throws {
        let fixture = try IdentityFixture()
        let database = fixture.configuration.database.path
        #expect(try await LegacyUserImport.run(json: Data(Self.export.utf8), databasePath: database).imported == 2)
        #expect(try storedHash("alice", database: database)?.hasPrefix("$2b$") == true)

        try await fixture.application().test(.router) { client in
            #expect(try await client.login("alice", "wrong horse").status == .unauthorized)
            let login = try await client.login("ALICE", "correct horse")
            #expect(login.status == .ok)
            #expect(try fixture.verify(try IssuedTokens(login).accessToken).subject == "1", "the original id becomes the subject")
            #expect(try await client.login("bob", "U*U").status == .ok)
        }
        #expect(try storedHash("alice", database: database)?.hasPrefix("$scrypt$ln=8,r=8,p=1$") == true, "rehashed on login")
        try await fixture.application().test(.router) { client in
            let again = try await client.login("alice", "correct horse")
            #expect(again.status == .ok, "and the new hash verifies")
        }

        // Running the same import again changes nothing.
        let report = try await LegacyUserImport.run(json: Data(Self.export.utf8), databasePath: database)
        #expect(report == LegacyUserImport.Report(imported: 0, skipped: ["alice", "Bob"]))
        #expect(try storedHash("alice", database: database)?.hasPrefix("$scrypt$") == true)
    }

    @Test func anInvalidFileImportsNothingAndNamesEveryProblem() async throws {
        let database = NSTemporaryDirectory() + "import-\(UUID().uuidString)/identity.sqlite"
        let bad = """
            [
              {"id": 1, "username": "fine", "password": "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e"},
              {"id": 2, "username": "no spaces allowed", "password": "plaintext"},
              {"id": true, "username": "FINE", "password": "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e"},
              "not an object"
            ]
            """
        do {
            _ = try await LegacyUserImport.run(json: Data(bad.utf8), databasePath: database)
            Issue.record("an invalid file was imported")
        } catch let rejected as LegacyUserImport.Rejected {
            #expect(rejected.problems.contains { $0.hasPrefix("[1] username") })
            #expect(rejected.problems.contains { $0.hasPrefix("[1] password") })
            #expect(rejected.problems.contains { $0.hasPrefix("[2] id") })
            #expect(rejected.problems.contains { $0 == "[2] username \"FINE\": also at [0]" })
            #expect(rejected.problems.contains { $0 == "[3] must be an object" })
            #expect(!rejected.description.contains("plaintext"), "the report names fields, not secrets")
        }
        #expect(!FileManager.default.fileExists(atPath: database), "nothing was written")
        await #expect(throws: LegacyUserImport.Rejected.self) {
            _ = try await LegacyUserImport.run(json: Data("{}".utf8), databasePath: database)
        }
    }

    @Test(arguments: StoreKind.tested)
    func importWorksOnEitherStore(kind: StoreKind) async throws {
        var configuration = IdentityConfiguration()
        configuration.database.path = NSTemporaryDirectory() + "import-\(UUID().uuidString)/identity.sqlite"
        if kind == .postgres { configuration.database.url = try await TestPostgres.shared.freshDatabase() }
        configuration.database.acquireTimeout = TestDatabase.acquireTimeout
        let first = try await LegacyUserImport.run(json: Data(Self.export.utf8), configuration: configuration)
        #expect(first == LegacyUserImport.Report(imported: 2, skipped: []))
        let again = try await LegacyUserImport.run(json: Data(Self.export.utf8), configuration: configuration)
        #expect(again == LegacyUserImport.Report(imported: 0, skipped: ["alice", "Bob"]))
        if let url = configuration.database.url { await TestPostgres.shared.drop(url) }
    }
}
