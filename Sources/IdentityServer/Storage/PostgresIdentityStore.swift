import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import Foundation
import PostgresNIO

/// ``IdentityStore`` on PostgreSQL, shared by identity replicas (docs/design.md §7). Same contract as
/// ``SQLiteIdentityStore``: each method is one transaction, and where SQLite gets isolation from its single writer,
/// this store takes locks in one fixed order so that racing requests, on one replica or several, see and leave the
/// state that some serial order of them would:
///
/// - a refresh locks its session row, then its token row (`SELECT … FOR UPDATE`; the order a session's cascade
///   delete takes), and only then reads them, so N concurrent refreshes with one token rotate once and the others
///   replay the same successor;
/// - throttle counters are guarded by transaction-scoped advisory locks on their keys (in sorted order), which also
///   cover counters that have no row yet;
/// - usernames are unique through a constraint, whose violation is ``IdentityStoreError/usernameTaken``.
///
/// Timestamps are `double precision` seconds since 1970, as in SQLite, so `Date` values round-trip exactly.
struct PostgresIdentityStore: IdentityStore {
    let pool: PostgresConnectionPool

    /// Migrates the database behind `pool` (idempotent, under the migrations lock).
    init(pool: PostgresConnectionPool) async throws {
        self.pool = pool
        try await pool.migrate(component: "identity", migrations: Self.migrations)
    }

    // MARK: Users

    func createUser(_ user: UserRecord) async throws {
        do {
            _ = try await pool.transaction { connection in try await Self.insert(user, connection, skippingDuplicates: false) }
        } catch let error as PSQLError where error.violatedUniqueConstraint == "users_username_key_unique" {
            throw IdentityStoreError.usernameTaken
        }
    }

    /// Inserts `user`; with `skippingDuplicates`, a taken id or username inserts nothing and returns false.
    private static func insert(_ user: UserRecord, _ connection: PostgresConnection, skippingDuplicates: Bool) async throws -> Bool {
        let conflict: String = skippingDuplicates ? "ON CONFLICT DO NOTHING" : ""
        let rows = try await connection.rows(
            """
            INSERT INTO users (id, username, username_key, password_hash, created_at)
            VALUES (\(user.id), \(user.username), \(Username.key(user.username)), \(user.passwordHash), \(user.createdAt.timeIntervalSince1970))
            \(unescaped: conflict) RETURNING id
            """
        )
        return !rows.isEmpty
    }

    func user(usernameKey: String) async throws -> UserRecord? {
        try await pool.rows("SELECT id, username, password_hash, created_at FROM users WHERE username_key = \(usernameKey)").first.map(Self.user)
    }

    func user(id: String) async throws -> UserRecord? {
        try await pool.rows("SELECT id, username, password_hash, created_at FROM users WHERE id = \(id)").first.map(Self.user)
    }

    private static func user(_ row: PostgresRow) throws -> UserRecord {
        let (id, username, passwordHash, createdAt) = try row.decode((String, String, String, Double).self)
        return UserRecord(id: id, username: username, passwordHash: passwordHash, createdAt: Date(timeIntervalSince1970: createdAt))
    }

    func replacePasswordHash(userID: String, old: String, new: String) async throws {
        _ = try await pool.rows("UPDATE users SET password_hash = \(new) WHERE id = \(userID) AND password_hash = \(old)")
    }

    func importUsers(_ users: [UserRecord]) async throws -> (imported: Int, skipped: [String]) {
        let skipped = try await pool.transaction { connection in
            var skipped: [String] = []
            for user in users {
                if try await !Self.insert(user, connection, skippingDuplicates: true) { skipped.append(user.username) }
            }
            return skipped
        }
        return (users.count - skipped.count, skipped)
    }

    // MARK: Sessions and refresh tokens

    func createSession(_ session: SessionRecord, firstToken: RefreshToken) async throws {
        try await pool.transaction { connection in
            try await connection.rows(
                """
                INSERT INTO sessions (id, user_id, generation, created_at, last_used_at, idle_expires_at, absolute_expires_at, user_agent)
                VALUES (\(session.id), \(session.userID), \(session.generation), \(session.createdAt.timeIntervalSince1970),
                        \(session.lastUsedAt.timeIntervalSince1970), \(session.idleExpiresAt.timeIntervalSince1970),
                        \(session.absoluteExpiresAt.timeIntervalSince1970), \(session.userAgent))
                """
            )
            try await Self.insertToken(firstToken, sessionID: session.id, generation: session.generation, issuedAt: session.createdAt, connection)
        }
    }

    private static func insertToken(
        _ token: RefreshToken,
        sessionID: String,
        generation: Int,
        issuedAt: Date,
        _ connection: PostgresConnection
    ) async throws {
        try await connection.rows(
            """
            INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at)
            VALUES (\(ByteBuffer(bytes: token.hash)), \(sessionID), \(generation), \(issuedAt.timeIntervalSince1970))
            """
        )
    }

    /// The admission is its own short transaction here: inside the refresh's, the per-address counter's lock would be
    /// held for the whole refresh and serialise every refresh from one address (a gateway not listed as trusted).
    func refresh(_ token: RefreshToken, admission: RefreshAdmission?, now: Date, settings: RefreshSettings) async throws -> RefreshResult {
        if let admission, case .throttled(let retryAfter) = try await admit(admission.key, limit: admission.limit, window: admission.window, now: now)
        {
            return .throttled(retryAfter: retryAfter)
        }
        let hash = ByteBuffer(bytes: token.hash)
        return try await pool.transaction { connection -> RefreshResult in
            let owner = try await connection.rows("SELECT session_id FROM refresh_tokens WHERE token_hash = \(hash)").first
            guard let sessionID = try owner?.decode(String.self),
                let session = try await Self.session(id: sessionID, locking: true, connection),
                // Read again under the session's lock: a refresh that committed meanwhile has consumed it.
                let record = try await Self.token(hash: hash, locking: true, connection),
                let userRow = try await connection.rows(
                    "SELECT id, username, password_hash, created_at FROM users WHERE id = \(session.userID)"
                ).first
            else { return .invalid }
            let user = try Self.user(userRow)
            let (result, write) = RefreshDecision.outcome(
                presenting: token,
                record: record,
                session: session,
                user: user,
                now: now,
                settings: settings
            )
            if let write { try await Self.apply(write, presentedHash: hash, connection) }
            return result
        }
    }

    /// The SQL of one ``RefreshWrite``.
    private static func apply(_ write: RefreshWrite, presentedHash hash: ByteBuffer, _ connection: PostgresConnection) async throws {
        switch write {
        case .revokeForReuse(let sessionID, let now):
            try await connection.rows(
                """
                UPDATE sessions SET revoked_at = \(now.timeIntervalSince1970), revoke_reason = 'refresh_token_reused'
                WHERE id = \(sessionID) AND revoked_at IS NULL
                """
            )
        case .touch(let sessionID, let lastUsedAt):
            try await connection.rows("UPDATE sessions SET last_used_at = \(lastUsedAt.timeIntervalSince1970) WHERE id = \(sessionID)")
        case .rotate(let successor, let sealed, let session, let now):
            try await insertToken(successor, sessionID: session.id, generation: session.generation, issuedAt: now, connection)
            try await connection.rows(
                "UPDATE refresh_tokens SET consumed_at = \(now.timeIntervalSince1970), sealed_successor = \(ByteBuffer(bytes: sealed)) WHERE token_hash = \(hash)"
            )
            try await connection.rows(
                """
                UPDATE sessions SET generation = \(session.generation), last_used_at = \(session.lastUsedAt.timeIntervalSince1970),
                    idle_expires_at = \(session.idleExpiresAt.timeIntervalSince1970)
                WHERE id = \(session.id)
                """
            )
        }
    }

    private static func token(hash: ByteBuffer, locking: Bool, _ connection: PostgresConnection) async throws -> RefreshTokenRecord? {
        let lock: String = locking ? "FOR UPDATE" : ""
        let rows = try await connection.rows(
            """
            SELECT session_id, generation, issued_at, consumed_at, sealed_successor FROM refresh_tokens
            WHERE token_hash = \(hash) \(unescaped: lock)
            """
        )
        return try rows.first.map { row in
            let (sessionID, generation, issuedAt, consumedAt, sealed) = try row.decode((String, Int, Double, Double?, ByteBuffer?).self)
            return RefreshTokenRecord(
                sessionID: sessionID,
                generation: generation,
                issuedAt: Date(timeIntervalSince1970: issuedAt),
                consumedAt: consumedAt.map(Date.init(timeIntervalSince1970:)),
                sealedSuccessor: sealed.map { Array($0.readableBytesView) }
            )
        }
    }

    static let sessionColumns: String =
        "id, user_id, generation, created_at, last_used_at, idle_expires_at, absolute_expires_at, revoked_at, user_agent"

    private static func session(id: String, locking: Bool, _ connection: PostgresConnection) async throws -> SessionRecord? {
        let lock: String = locking ? "FOR UPDATE" : ""
        return try await connection.rows("SELECT \(unescaped: sessionColumns) FROM sessions WHERE id = \(id) \(unescaped: lock)").first.map(session)
    }

    static func session(_ row: PostgresRow) throws -> SessionRecord {
        let (id, userID, generation, createdAt, lastUsedAt, idleExpiresAt, absoluteExpiresAt, revokedAt, userAgent) = try row.decode(
            (String, String, Int, Double, Double, Double, Double, Double?, String?).self
        )
        return SessionRecord(
            id: id,
            userID: userID,
            generation: generation,
            createdAt: Date(timeIntervalSince1970: createdAt),
            lastUsedAt: Date(timeIntervalSince1970: lastUsedAt),
            idleExpiresAt: Date(timeIntervalSince1970: idleExpiresAt),
            absoluteExpiresAt: Date(timeIntervalSince1970: absoluteExpiresAt),
            revokedAt: revokedAt.map(Date.init(timeIntervalSince1970:)),
            userAgent: userAgent
        )
    }

    func revokeSession(of token: RefreshToken, now: Date) async throws -> Bool {
        let rows = try await pool.rows(
            """
            UPDATE sessions SET revoked_at = \(now.timeIntervalSince1970), revoke_reason = 'logout'
            WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = \(ByteBuffer(bytes: token.hash))) AND revoked_at IS NULL
            RETURNING id
            """
        )
        return !rows.isEmpty
    }

    func revokeSession(id: String, userID: String, now: Date) async throws -> Bool {
        let time = now.timeIntervalSince1970
        let rows = try await pool.rows(
            """
            UPDATE sessions SET revoked_at = \(time), revoke_reason = 'deleted'
            WHERE id = \(id) AND user_id = \(userID) AND revoked_at IS NULL AND idle_expires_at > \(time) AND absolute_expires_at > \(time)
            RETURNING id
            """
        )
        return !rows.isEmpty
    }

    func changePassword(userID: String, old: String, new: String, keeping sessionID: String?, now: Date) async throws -> Int? {
        try await pool.transaction { connection -> Int? in
            let changed = try await connection.rows(
                "UPDATE users SET password_hash = \(new) WHERE id = \(userID) AND password_hash = \(old) RETURNING id"
            )
            guard changed.count == 1 else { return nil }
            return try await connection.rows(
                """
                UPDATE sessions SET revoked_at = \(now.timeIntervalSince1970), revoke_reason = 'password_changed'
                WHERE user_id = \(userID) AND revoked_at IS NULL AND id IS DISTINCT FROM \(sessionID) RETURNING id
                """
            ).count
        }
    }

    func revokeAllSessions(userID: String, now: Date) async throws -> Int {
        try await pool.rows(
            """
            UPDATE sessions SET revoked_at = \(now.timeIntervalSince1970), revoke_reason = 'logout_all'
            WHERE user_id = \(userID) AND revoked_at IS NULL RETURNING id
            """
        ).count
    }

    /// Sessions used at the same time are ordered by id byte by byte (`COLLATE "C"`), as SQLite orders them, whatever
    /// the database's default collation (an `en_US` one ignores `-`, `_` and case at first).
    func liveSessions(userID: String, now: Date) async throws -> [SessionRecord] {
        let time = now.timeIntervalSince1970
        return try await pool.rows(
            """
            SELECT \(unescaped: Self.sessionColumns) FROM sessions
            WHERE user_id = \(userID) AND revoked_at IS NULL AND idle_expires_at > \(time) AND absolute_expires_at > \(time)
            ORDER BY last_used_at DESC, id COLLATE "C"
            """
        ).map(Self.session)
    }
}
