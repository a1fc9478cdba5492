import AuthStackCore
import AuthStackStorage
import Foundation
import GRDB
import Testing

/// A full disk on SQLite (issue 23): writes are refused as ``StorageUnavailable`` (`disk_full`, answered 503 with
/// `Retry-After`, never an anonymous 500), nothing is half written, reads go on, and writes succeed again once there is
/// room. The file system is filled with SQLite's own limit (`PRAGMA max_page_count`), which fails a write exactly as a
/// full disk does (`SQLITE_FULL`).
@Suite struct SQLiteDiskFullTests {
    @Test func aFullDatabaseRefusesWritesAsUnavailableAndRecoversWhenThereIsRoom() async throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1") { db in try db.execute(sql: "CREATE TABLE t (x BLOB NOT NULL)") }
        let path = NSTemporaryDirectory() + "sqlite-full-\(UUID().uuidString)/x.sqlite"
        let pool = try await SQLiteDatabase.open(path: path, migrator: migrator)
        let pages = try await pool.read { try Int.fetchOne($0, sql: "PRAGMA page_count") ?? 0 }
        try await pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA max_page_count = \(pages + 4)") }

        var written = 0
        var refusal: (any Error)?
        for _ in 0..<64 where refusal == nil {
            do {
                try await pool.storageWrite { db in
                    // Two rows per transaction: a refused transaction must leave neither.
                    try db.execute(sql: "INSERT INTO t VALUES (zeroblob(3000))")
                    try db.execute(sql: "INSERT INTO t VALUES (zeroblob(3000))")
                }
                written += 2
            } catch {
                refusal = error
            }
        }
        #expect(refusal as? StorageUnavailable == StorageUnavailable(.diskFull), "\(String(describing: refusal))")
        #expect(StorageUnavailable(.diskFull).retryAfter > 0)
        #expect(try await pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM t") } == written, "no half-written transaction; reads go on")
        #expect(try await pool.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } == "ok")

        try await pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA max_page_count = 1000000") }
        try await pool.storageWrite { try $0.execute(sql: "INSERT INTO t VALUES (zeroblob(3000))") }
        #expect(try await pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM t") } == written + 1, "writes come back with room")
    }
}
