import AuthStackStorage
import Foundation
import GRDB
import Testing

/// The embedded database is private to the service's user: any local user could otherwise read every note and
/// every password hash (docs/security.md, "Files").
@Suite struct SQLiteDatabaseTests {
    private func mode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) & 0o777
    }

    private var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1") { db in try db.execute(sql: "CREATE TABLE t (x INTEGER)") }
        return migrator
    }

    @Test func aNewDatabaseAndItsDirectoryAreReadableByTheServiceOnly() async throws {
        let directory = NSTemporaryDirectory() + "sqlite-modes-\(UUID().uuidString)/data"
        let path = directory + "/x.sqlite"
        let pool = try await SQLiteDatabase.open(path: path, migrator: migrator)
        try await pool.write { try $0.execute(sql: "INSERT INTO t VALUES (1)") }
        #expect(try mode(directory) == 0o700)
        for file in [path, path + "-wal", path + "-shm"] {
            #expect(try mode(file) == 0o600, "\(file)")
        }
    }

    @Test func anExistingWorldReadableDatabaseIsTightened() async throws {
        let directory = NSTemporaryDirectory() + "sqlite-modes-\(UUID().uuidString)"
        let path = directory + "/x.sqlite"
        do {
            let pool = try await SQLiteDatabase.open(path: path, migrator: migrator)
            try await pool.write { try $0.execute(sql: "INSERT INTO t VALUES (1)") }
        }
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        }
        let pool = try await SQLiteDatabase.open(path: path, migrator: migrator)
        #expect(try await pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM t") } == 1, "nothing lost")
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            #expect(try mode(file) == 0o600, "\(file)")
        }
    }
}
