import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import Foundation
import GRDB

/// ``KeyStore`` on SQLite through GRDB: one file, WAL mode (GRDB's `DatabasePool`), migrations at start-up.
struct SQLiteKeyStore: KeyStore {
    private let database: DatabasePool

    /// Opens (creating if needed) the database at `path` and migrates it.
    init(path: String) async throws {
        database = try await SQLiteDatabase.open(path: path, migrator: Self.migrator)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1-keys") { db in
            try db.execute(
                sql: """
                    CREATE TABLE keys (
                        kid TEXT PRIMARY KEY NOT NULL,
                        status TEXT NOT NULL CHECK (status IN ('next', 'current', 'previous', 'retired', 'revoked')),
                        sealed_secret BLOB NOT NULL,
                        created_at REAL NOT NULL,
                        activated_at REAL,
                        retire_at REAL,
                        revoked_at REAL
                    );
                    CREATE TABLE keyring_state (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
                    INSERT INTO keyring_state (id, version) VALUES (1, 0);
                    """
            )
        }
        return migrator
    }

    func snapshot() async throws -> KeyStoreSnapshot {
        try await database.read { db in try Self.read(db) }
    }

    func transact(
        now: Date,
        makeKey: @escaping @Sendable () -> (kid: String, sealedSecret: [UInt8]),
        decide: @escaping @Sendable ([KeyMetadata]) throws -> [KeyTransition]
    ) async throws -> KeyStoreSnapshot {
        try await database.storageWrite { db in
            let before = try Self.read(db)
            let transitions = try decide(before.keys.map(\.metadata))
            guard !transitions.isEmpty else { return before }
            let after = KeyStoreSnapshot.applying(transitions, to: before.keys, now: now, makeKey: makeKey)
            let previous = Dictionary(uniqueKeysWithValues: before.keys.map { ($0.metadata.kid, $0) })
            for key in after where previous[key.metadata.kid] != key {
                try Self.upsert(key, db)
            }
            try db.execute(sql: "UPDATE keyring_state SET version = version + 1 WHERE id = 1")
            return try Self.read(db)
        }
    }

    private static func read(_ db: Database) throws -> KeyStoreSnapshot {
        let version = try Int.fetchOne(db, sql: "SELECT version FROM keyring_state WHERE id = 1") ?? 0
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM keys ORDER BY created_at, kid")
        let keys = try rows.map { row -> StoredKey in
            guard let status = KeyLifecycleStatus(rawValue: row["status"]) else {
                throw DatabaseError(resultCode: .SQLITE_CONSTRAINT, message: "unknown key status")
            }
            let metadata = KeyMetadata(
                kid: row["kid"],
                status: status,
                createdAt: Date(timeIntervalSince1970: row["created_at"]),
                activatedAt: (row["activated_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                retireAt: (row["retire_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                revokedAt: (row["revoked_at"] as Double?).map(Date.init(timeIntervalSince1970:))
            )
            return StoredKey(metadata: metadata, sealedSecret: [UInt8](row["sealed_secret"] as Data))
        }
        return KeyStoreSnapshot(version: version, keys: keys)
    }

    private static func upsert(_ key: StoredKey, _ db: Database) throws {
        let metadata = key.metadata
        try db.execute(
            sql: """
                INSERT INTO keys (kid, status, sealed_secret, created_at, activated_at, retire_at, revoked_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (kid) DO UPDATE SET
                    status = excluded.status, activated_at = excluded.activated_at,
                    retire_at = excluded.retire_at, revoked_at = excluded.revoked_at
                """,
            arguments: [
                metadata.kid, metadata.status.rawValue, Data(key.sealedSecret), metadata.createdAt.timeIntervalSince1970,
                metadata.activatedAt?.timeIntervalSince1970, metadata.retireAt?.timeIntervalSince1970,
                metadata.revokedAt?.timeIntervalSince1970,
            ]
        )
    }
}
