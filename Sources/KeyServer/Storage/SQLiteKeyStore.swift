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
        migrator.registerMigration("2-clients") { db in
            try db.execute(
                sql: """
                    CREATE TABLE clients (
                        name TEXT PRIMARY KEY NOT NULL,
                        role TEXT NOT NULL CHECK (role IN ('verifier', 'signer', 'admin')),
                        token_hash BLOB NOT NULL,
                        previous_token_hash BLOB,
                        previous_valid_until REAL,
                        created_at REAL NOT NULL,
                        rotated_at REAL,
                        last_seen_at REAL,
                        revoked_at REAL
                    );
                    CREATE TABLE clients_state (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
                    INSERT INTO clients_state (id, version) VALUES (1, 0);
                    """
            )
        }
        // Issue 19, item 4: a key's algorithm is part of the key; every key made before it is HS256.
        migrator.registerMigration("3-key-algorithm") { db in
            try db.execute(
                sql: "ALTER TABLE keys ADD COLUMN algorithm TEXT NOT NULL DEFAULT 'HS256' CHECK (algorithm IN ('HS256', 'EdDSA'))"
            )
        }
        return migrator
    }

    func snapshot() async throws -> KeyStoreSnapshot {
        try await database.read { db in try Self.read(db) }
    }

    func transact(
        now: Date,
        makeKey: @escaping @Sendable () -> NewKey,
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

    func clients() async throws -> ClientSnapshot {
        try await database.read { db in try Self.readClients(db) }
    }

    func clientsVersion() async throws -> Int {
        try await database.read { db in try Int.fetchOne(db, sql: "SELECT version FROM clients_state WHERE id = 1") ?? 0 }
    }

    func transactClients(_ decide: @escaping @Sendable ([ClientRecord]) throws -> [ClientRecord]) async throws -> ClientSnapshot {
        try await database.storageWrite { db in
            let before = try Self.readClients(db)
            let writes = try decide(before.clients)
            guard !writes.isEmpty else { return before }
            for client in writes {
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO clients (name, role, token_hash, previous_token_hash, previous_valid_until, created_at,
                            rotated_at, last_seen_at, revoked_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        client.name, client.role.rawValue, Data(client.tokenHash), client.previousTokenHash.map { Data($0) },
                        client.previousValidUntil?.timeIntervalSince1970, client.createdAt.timeIntervalSince1970,
                        client.rotatedAt?.timeIntervalSince1970, client.lastSeenAt?.timeIntervalSince1970,
                        client.revokedAt?.timeIntervalSince1970,
                    ]
                )
            }
            try db.execute(sql: "UPDATE clients_state SET version = version + 1 WHERE id = 1")
            return try Self.readClients(db)
        }
    }

    func recordLastSeen(name: String, at time: Date) async throws {
        try await database.storageWrite { db in
            try db.execute(sql: "UPDATE clients SET last_seen_at = ? WHERE name = ?", arguments: [time.timeIntervalSince1970, name])
        }
    }

    private static func readClients(_ db: Database) throws -> ClientSnapshot {
        let version = try Int.fetchOne(db, sql: "SELECT version FROM clients_state WHERE id = 1") ?? 0
        let clients = try Row.fetchAll(db, sql: "SELECT * FROM clients ORDER BY name").map { row -> ClientRecord in
            guard let role = ClientRole(rawValue: row["role"]) else {
                throw DatabaseError(resultCode: .SQLITE_CONSTRAINT, message: "unknown client role")
            }
            return ClientRecord(
                name: row["name"],
                role: role,
                tokenHash: [UInt8](row["token_hash"] as Data),
                previousTokenHash: (row["previous_token_hash"] as Data?).map { [UInt8]($0) },
                previousValidUntil: (row["previous_valid_until"] as Double?).map(Date.init(timeIntervalSince1970:)),
                createdAt: Date(timeIntervalSince1970: row["created_at"]),
                rotatedAt: (row["rotated_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                lastSeenAt: (row["last_seen_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                revokedAt: (row["revoked_at"] as Double?).map(Date.init(timeIntervalSince1970:))
            )
        }
        return ClientSnapshot(version: version, clients: clients)
    }

    private static func read(_ db: Database) throws -> KeyStoreSnapshot {
        let version = try Int.fetchOne(db, sql: "SELECT version FROM keyring_state WHERE id = 1") ?? 0
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM keys ORDER BY created_at, kid")
        let keys = try rows.map { row -> StoredKey in
            guard let status = KeyLifecycleStatus(rawValue: row["status"]) else {
                throw DatabaseError(resultCode: .SQLITE_CONSTRAINT, message: "unknown key status")
            }
            guard let algorithm = KeyAlgorithm(rawValue: row["algorithm"]) else {
                throw DatabaseError(resultCode: .SQLITE_CONSTRAINT, message: "unknown key algorithm")
            }
            let metadata = KeyMetadata(
                kid: row["kid"],
                algorithm: algorithm,
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
                INSERT INTO keys (kid, algorithm, status, sealed_secret, created_at, activated_at, retire_at, revoked_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (kid) DO UPDATE SET
                    status = excluded.status, activated_at = excluded.activated_at,
                    retire_at = excluded.retire_at, revoked_at = excluded.revoked_at
                """,
            arguments: [
                metadata.kid, metadata.algorithm.rawValue, metadata.status.rawValue, Data(key.sealedSecret), metadata.createdAt.timeIntervalSince1970,
                metadata.activatedAt?.timeIntervalSince1970, metadata.retireAt?.timeIntervalSince1970,
                metadata.revokedAt?.timeIntervalSince1970,
            ]
        )
    }
}
