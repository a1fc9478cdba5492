import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import Foundation
import PostgresNIO

/// ``KeyStore`` on PostgreSQL, for several key-service replicas sharing one database (docs/design.md §7).
///
/// `transact` starts by locking the single `keyring_state` row (`SELECT … FOR UPDATE`): concurrent transactions, in
/// this process or another replica, queue on it, and each reads the keys only after the one before it committed
/// (`READ COMMITTED` takes a new snapshot per statement). So a due rotation that every replica's scheduler sees is
/// applied by the first and found already done by the rest, exactly as SQLite's single writer does it.
/// Timestamps are `double precision` seconds since 1970, as in SQLite: `Date` values survive the round trip
/// exactly, which `timestamptz` (microseconds) would not.
struct PostgresKeyStore: KeyStore {
    let pool: PostgresConnectionPool

    /// Migrates the database behind `pool` (idempotent, under the migrations lock).
    init(pool: PostgresConnectionPool) async throws {
        self.pool = pool
        try await pool.migrate(component: "keys", migrations: Self.migrations)
    }

    /// The schema, step by step (numbers are never reused; a change is a new step).
    static let migrations = [
        PostgresMigration(
            version: 1,
            statements: [
                """
                CREATE TABLE keys (
                    kid text PRIMARY KEY,
                    status text NOT NULL CHECK (status IN ('next', 'current', 'previous', 'retired', 'revoked')),
                    sealed_secret bytea NOT NULL,
                    created_at double precision NOT NULL,
                    activated_at double precision,
                    retire_at double precision,
                    revoked_at double precision
                )
                """,
                "CREATE TABLE keyring_state (id integer PRIMARY KEY CHECK (id = 1), version bigint NOT NULL)",
                "INSERT INTO keyring_state (id, version) VALUES (1, 0)",
            ]
        ),
        PostgresMigration(
            version: 2,
            statements: [
                """
                CREATE TABLE clients (
                    name text PRIMARY KEY,
                    role text NOT NULL CHECK (role IN ('verifier', 'signer', 'admin')),
                    token_hash bytea NOT NULL,
                    previous_token_hash bytea,
                    previous_valid_until double precision,
                    created_at double precision NOT NULL,
                    rotated_at double precision,
                    last_seen_at double precision,
                    revoked_at double precision
                )
                """,
                "CREATE TABLE clients_state (id integer PRIMARY KEY CHECK (id = 1), version bigint NOT NULL)",
                "INSERT INTO clients_state (id, version) VALUES (1, 0)",
            ]
        ),
        // Issue 19, item 4: a key's algorithm is part of the key; every key made before it is HS256.
        PostgresMigration(
            version: 3,
            statements: [
                "ALTER TABLE keys ADD COLUMN algorithm text NOT NULL DEFAULT 'HS256' CHECK (algorithm IN ('HS256', 'EdDSA'))"
            ]
        ),
    ]

    func snapshot() async throws -> KeyStoreSnapshot {
        // One snapshot for both statements, so the version and the keys belong together.
        try await pool.transaction { connection in
            try await connection.rows("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return try await Self.read(connection, lock: false)
        }
    }

    /// Bounded to 2 s: the replica sync and `/readyz` ask it, and the pool waits for as long as the server is away.
    func version() async throws -> Int { try await boundedStateVersion("keyring_state") }

    func transact(
        now: Date,
        makeKey: @escaping @Sendable () -> NewKey,
        decide: @escaping @Sendable ([KeyMetadata]) throws -> [KeyTransition]
    ) async throws -> KeyStoreSnapshot {
        try await pool.transaction { connection in
            let before = try await Self.read(connection, lock: true)
            let transitions = try decide(before.keys.map(\.metadata))
            guard !transitions.isEmpty else { return before }
            let after = KeyStoreSnapshot.applying(transitions, to: before.keys, now: now, makeKey: makeKey)
            let previous = Dictionary(uniqueKeysWithValues: before.keys.map { ($0.metadata.kid, $0) })
            for key in after where previous[key.metadata.kid] != key {
                try await Self.upsert(key, connection)
            }
            try await connection.rows("UPDATE keyring_state SET version = version + 1 WHERE id = 1")
            return try await Self.read(connection, lock: false)
        }
    }

    func clients() async throws -> ClientSnapshot {
        try await pool.transaction { connection in
            try await connection.rows("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return try await Self.readClients(connection, lock: false)
        }
    }

    /// Bounded to 2 s, like ``version()``: the replica sync asks it.
    func clientsVersion() async throws -> Int { try await boundedStateVersion("clients_state") }

    /// Locks the `clients_state` row first, so replicas adding or revoking at once apply one after the other.
    func transactClients(_ decide: @escaping @Sendable ([ClientRecord]) throws -> [ClientRecord]) async throws -> ClientSnapshot {
        try await pool.transaction { connection in
            let before = try await Self.readClients(connection, lock: true)
            let writes = try decide(before.clients)
            guard !writes.isEmpty else { return before }
            for client in writes {
                try await connection.rows(
                    """
                    INSERT INTO clients (name, role, token_hash, previous_token_hash, previous_valid_until, created_at, rotated_at,
                        last_seen_at, revoked_at)
                    VALUES (\(client.name), \(client.role.rawValue), \(ByteBuffer(bytes: client.tokenHash)),
                        \(client.previousTokenHash.map { ByteBuffer(bytes: $0) }), \(client.previousValidUntil?.timeIntervalSince1970),
                        \(client.createdAt.timeIntervalSince1970), \(client.rotatedAt?.timeIntervalSince1970),
                        \(client.lastSeenAt?.timeIntervalSince1970), \(client.revokedAt?.timeIntervalSince1970))
                    ON CONFLICT (name) DO UPDATE SET
                        role = excluded.role, token_hash = excluded.token_hash, previous_token_hash = excluded.previous_token_hash,
                        previous_valid_until = excluded.previous_valid_until, created_at = excluded.created_at,
                        rotated_at = excluded.rotated_at, last_seen_at = excluded.last_seen_at, revoked_at = excluded.revoked_at
                    """
                )
            }
            try await connection.rows("UPDATE clients_state SET version = version + 1 WHERE id = 1")
            return try await Self.readClients(connection, lock: false)
        }
    }

    func recordLastSeen(name: String, at time: Date) async throws {
        _ = try await pool.rows("UPDATE clients SET last_seen_at = \(time.timeIntervalSince1970) WHERE name = \(name)")
    }

    /// The version of `table`, read on a connection of its own within 2 s.
    private func boundedStateVersion(_ table: String) async throws -> Int {
        let pool = self.pool
        return try await PostgresConnectionPool.withDeadline(.seconds(2)) {
            try await pool.rows("SELECT version FROM \(unescaped: table) WHERE id = 1").first?.decode(Int.self) ?? 0
        }
    }

    /// The version row of `table` (`keyring_state` or `clients_state`), row-locked when `locking`: that lock is what
    /// serialises the writers of the keys, and of the clients.
    private static func stateVersion(_ table: String, locking: Bool, _ connection: PostgresConnection) async throws -> Int {
        let lock: String = locking ? "FOR UPDATE" : ""
        return try await connection.rows("SELECT version FROM \(unescaped: table) WHERE id = 1 \(unescaped: lock)").first?.decode(Int.self) ?? 0
    }

    private static func readClients(_ connection: PostgresConnection, lock: Bool) async throws -> ClientSnapshot {
        let version = try await stateVersion("clients_state", locking: lock, connection)
        let rows = try await connection.rows(
            """
            SELECT name, role, token_hash, previous_token_hash, previous_valid_until, created_at, rotated_at, last_seen_at, revoked_at
            FROM clients ORDER BY name COLLATE "C"
            """
        )
        let clients = try rows.map { row -> ClientRecord in
            let (name, roleText, hash, previousHash, previousValidUntil, createdAt, rotatedAt, lastSeenAt, revokedAt) = try row.decode(
                (String, String, ByteBuffer, ByteBuffer?, Double?, Double, Double?, Double?, Double?).self
            )
            guard let role = ClientRole(rawValue: roleText) else { throw UnreadableKeyError(description: "client \(name): unknown role") }
            return ClientRecord(
                name: name,
                role: role,
                tokenHash: Array(hash.readableBytesView),
                previousTokenHash: previousHash.map { Array($0.readableBytesView) },
                previousValidUntil: previousValidUntil.map(Date.init(timeIntervalSince1970:)),
                createdAt: Date(timeIntervalSince1970: createdAt),
                rotatedAt: rotatedAt.map(Date.init(timeIntervalSince1970:)),
                lastSeenAt: lastSeenAt.map(Date.init(timeIntervalSince1970:)),
                revokedAt: revokedAt.map(Date.init(timeIntervalSince1970:))
            )
        }
        return ClientSnapshot(version: version, clients: clients)
    }

    /// The version (row-locked when `lock`, which serialises writers) and then the keys, oldest first; keys created at
    /// the same time (the first pair) by kid byte by byte (`COLLATE "C"`), as SQLite orders them.
    private static func read(_ connection: PostgresConnection, lock: Bool) async throws -> KeyStoreSnapshot {
        let version = try await stateVersion("keyring_state", locking: lock, connection)
        let rows = try await connection.rows(
            """
            SELECT kid, algorithm, status, sealed_secret, created_at, activated_at, retire_at, revoked_at FROM keys
            ORDER BY created_at, kid COLLATE "C"
            """
        )
        let keys = try rows.map { row -> StoredKey in
            let (kid, algorithmText, statusText, sealed, createdAt, activatedAt, retireAt, revokedAt) = try row.decode(
                (String, String, String, ByteBuffer, Double, Double?, Double?, Double?).self
            )
            guard let status = KeyLifecycleStatus(rawValue: statusText) else { throw UnreadableKeyError(description: "key \(kid): unknown status") }
            guard let algorithm = KeyAlgorithm(rawValue: algorithmText) else {
                throw UnreadableKeyError(description: "key \(kid): unknown algorithm")
            }
            let metadata = KeyMetadata(
                kid: kid,
                algorithm: algorithm,
                status: status,
                createdAt: Date(timeIntervalSince1970: createdAt),
                activatedAt: activatedAt.map(Date.init(timeIntervalSince1970:)),
                retireAt: retireAt.map(Date.init(timeIntervalSince1970:)),
                revokedAt: revokedAt.map(Date.init(timeIntervalSince1970:))
            )
            return StoredKey(metadata: metadata, sealedSecret: Array(sealed.readableBytesView))
        }
        return KeyStoreSnapshot(version: version, keys: keys)
    }

    private static func upsert(_ key: StoredKey, _ connection: PostgresConnection) async throws {
        let metadata = key.metadata
        try await connection.rows(
            """
            INSERT INTO keys (kid, algorithm, status, sealed_secret, created_at, activated_at, retire_at, revoked_at)
            VALUES (\(metadata.kid), \(metadata.algorithm.rawValue), \(metadata.status.rawValue), \(ByteBuffer(bytes: key.sealedSecret)), \(metadata.createdAt.timeIntervalSince1970),
                    \(metadata.activatedAt?.timeIntervalSince1970), \(metadata.retireAt?.timeIntervalSince1970),
                    \(metadata.revokedAt?.timeIntervalSince1970))
            ON CONFLICT (kid) DO UPDATE SET
                status = excluded.status, activated_at = excluded.activated_at,
                retire_at = excluded.retire_at, revoked_at = excluded.revoked_at
            """
        )
    }
}
