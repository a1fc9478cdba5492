import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import Foundation
import GRDB

/// ``IdentityStore`` on SQLite through GRDB: one file, WAL mode, migrations at start-up. GRDB serialises writes, so
/// every method's transaction sees and leaves a consistent state however many requests race.
struct SQLiteIdentityStore: IdentityStore {
    private let database: DatabasePool

    init(path: String) async throws {
        database = try await SQLiteDatabase.open(path: path, migrator: Self.migrator)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1-identity") { db in
            try db.execute(
                sql: """
                    CREATE TABLE users (
                        id TEXT PRIMARY KEY NOT NULL,
                        username TEXT NOT NULL,
                        username_key TEXT NOT NULL UNIQUE,
                        password_hash TEXT NOT NULL,
                        created_at REAL NOT NULL
                    );
                    CREATE TABLE sessions (
                        id TEXT PRIMARY KEY NOT NULL,
                        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                        generation INTEGER NOT NULL,
                        created_at REAL NOT NULL,
                        last_used_at REAL NOT NULL,
                        idle_expires_at REAL NOT NULL,
                        absolute_expires_at REAL NOT NULL,
                        revoked_at REAL,
                        revoke_reason TEXT,
                        user_agent TEXT
                    );
                    CREATE INDEX sessions_by_user ON sessions (user_id, last_used_at DESC);
                    CREATE TABLE refresh_tokens (
                        token_hash BLOB PRIMARY KEY NOT NULL,
                        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                        generation INTEGER NOT NULL,
                        issued_at REAL NOT NULL,
                        consumed_at REAL,
                        sealed_successor BLOB,
                        UNIQUE (session_id, generation)
                    );
                    CREATE TABLE throttles (
                        key TEXT PRIMARY KEY NOT NULL,
                        count INTEGER NOT NULL,
                        window_start REAL NOT NULL,
                        blocked_until REAL
                    );
                    """
            )
        }
        return migrator
    }

    // MARK: Users

    func createUser(_ user: UserRecord) async throws {
        do {
            try await database.storageWrite { db in try Self.insert(user, db) }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw IdentityStoreError.usernameTaken
        }
    }

    private static func insert(_ user: UserRecord, _ db: Database) throws {
        try db.executeCached(
            sql: "INSERT INTO users (id, username, username_key, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
            arguments: [user.id, user.username, Username.key(user.username), user.passwordHash, user.createdAt.timeIntervalSince1970]
        )
    }

    func user(usernameKey: String) async throws -> UserRecord? {
        try await database.read { db in
            try Row.fetchOneCached(db, sql: "SELECT * FROM users WHERE username_key = ?", arguments: [usernameKey]).map(Self.user)
        }
    }

    func user(id: String) async throws -> UserRecord? {
        try await database.read { db in try Self.user(id: id, db) }
    }

    private static func user(id: String, _ db: Database) throws -> UserRecord? {
        try Row.fetchOneCached(db, sql: "SELECT * FROM users WHERE id = ?", arguments: [id]).map(user)
    }

    private static func user(_ row: Row) -> UserRecord {
        UserRecord(
            id: row["id"],
            username: row["username"],
            passwordHash: row["password_hash"],
            createdAt: Date(timeIntervalSince1970: row["created_at"])
        )
    }

    func replacePasswordHash(userID: String, old: String, new: String) async throws {
        try await database.storageWrite { db in
            try db.executeCached(sql: "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?", arguments: [new, userID, old])
        }
    }

    func changePassword(userID: String, old: String, new: String, keeping sessionID: String?, now: Date) async throws -> Int? {
        try await database.storageWrite { db in
            try db.executeCached(sql: "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?", arguments: [new, userID, old])
            guard db.changesCount == 1 else { return nil }
            try db.executeCached(
                sql: """
                    UPDATE sessions SET revoked_at = ?, revoke_reason = 'password_changed'
                    WHERE user_id = ? AND revoked_at IS NULL AND id IS NOT ?
                    """,
                arguments: [now.timeIntervalSince1970, userID, sessionID]
            )
            return db.changesCount
        }
    }

    func importUsers(_ users: [UserRecord]) async throws -> (imported: Int, skipped: [String]) {
        try await database.storageWrite { db in
            var skipped: [String] = []
            for user in users {
                let taken =
                    try Bool.fetchOne(
                        db,
                        sql: "SELECT EXISTS (SELECT 1 FROM users WHERE username_key = ? OR id = ?)",
                        arguments: [Username.key(user.username), user.id]
                    ) ?? false
                if taken { skipped.append(user.username) } else { try Self.insert(user, db) }
            }
            return (users.count - skipped.count, skipped)
        }
    }

    // MARK: Sessions and refresh tokens

    func createSession(_ session: SessionRecord, firstToken: RefreshToken) async throws {
        try await database.storageWrite { db in
            try db.executeCached(
                sql: """
                    INSERT INTO sessions (id, user_id, generation, created_at, last_used_at, idle_expires_at, absolute_expires_at, user_agent)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    session.id, session.userID, session.generation, session.createdAt.timeIntervalSince1970,
                    session.lastUsedAt.timeIntervalSince1970, session.idleExpiresAt.timeIntervalSince1970,
                    session.absoluteExpiresAt.timeIntervalSince1970, session.userAgent,
                ]
            )
            try Self.insertToken(firstToken, sessionID: session.id, generation: session.generation, issuedAt: session.createdAt, db)
        }
    }

    private static func insertToken(_ token: RefreshToken, sessionID: String, generation: Int, issuedAt: Date, _ db: Database) throws {
        try db.executeCached(
            sql: "INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at) VALUES (?, ?, ?, ?)",
            arguments: [Data(token.hash), sessionID, generation, issuedAt.timeIntervalSince1970]
        )
    }

    func refresh(_ token: RefreshToken, admission: RefreshAdmission?, now: Date, settings: RefreshSettings) async throws -> RefreshResult {
        let hash = Data(token.hash)
        return try await database.storageWrite { db -> RefreshResult in
            if let admission,
                case .throttled(let retryAfter) = try Self.admit(admission.key, limit: admission.limit, window: admission.window, now: now, db)
            {
                return .throttled(retryAfter: retryAfter)
            }
            guard let record = try Self.token(hash: hash, db),
                let session = try Self.session(id: record.sessionID, db),
                let user = try Self.user(id: session.userID, db)
            else { return .invalid }
            let (result, write) = RefreshDecision.outcome(
                presenting: token,
                record: record,
                session: session,
                user: user,
                now: now,
                settings: settings
            )
            if let write { try Self.apply(write, presentedHash: hash, db) }
            return result
        }
    }

    /// The SQL of one ``RefreshWrite``.
    private static func apply(_ write: RefreshWrite, presentedHash hash: Data, _ db: Database) throws {
        switch write {
        case .revokeForReuse(let sessionID, let now):
            try db.executeCached(
                sql: "UPDATE sessions SET revoked_at = ?, revoke_reason = 'refresh_token_reused' WHERE id = ? AND revoked_at IS NULL",
                arguments: [now.timeIntervalSince1970, sessionID]
            )
        case .touch(let sessionID, let lastUsedAt):
            try db.executeCached(sql: "UPDATE sessions SET last_used_at = ? WHERE id = ?", arguments: [lastUsedAt.timeIntervalSince1970, sessionID])
        case .rotate(let successor, let sealed, let session, let now):
            try insertToken(successor, sessionID: session.id, generation: session.generation, issuedAt: now, db)
            try db.executeCached(
                sql: "UPDATE refresh_tokens SET consumed_at = ?, sealed_successor = ? WHERE token_hash = ?",
                arguments: [now.timeIntervalSince1970, Data(sealed), hash]
            )
            try db.executeCached(
                sql: "UPDATE sessions SET generation = ?, last_used_at = ?, idle_expires_at = ? WHERE id = ?",
                arguments: [session.generation, session.lastUsedAt.timeIntervalSince1970, session.idleExpiresAt.timeIntervalSince1970, session.id]
            )
        }
    }

    private static func token(hash: Data, _ db: Database) throws -> RefreshTokenRecord? {
        try Row.fetchOneCached(db, sql: "SELECT * FROM refresh_tokens WHERE token_hash = ?", arguments: [hash]).map { row in
            RefreshTokenRecord(
                sessionID: row["session_id"],
                generation: row["generation"],
                issuedAt: Date(timeIntervalSince1970: row["issued_at"]),
                consumedAt: (row["consumed_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                sealedSuccessor: (row["sealed_successor"] as Data?).map { [UInt8]($0) }
            )
        }
    }

    private static func session(id: String, _ db: Database) throws -> SessionRecord? {
        try Row.fetchOneCached(db, sql: "SELECT * FROM sessions WHERE id = ?", arguments: [id]).map(session)
    }

    private static func session(_ row: Row) -> SessionRecord {
        SessionRecord(
            id: row["id"],
            userID: row["user_id"],
            generation: row["generation"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            lastUsedAt: Date(timeIntervalSince1970: row["last_used_at"]),
            idleExpiresAt: Date(timeIntervalSince1970: row["idle_expires_at"]),
            absoluteExpiresAt: Date(timeIntervalSince1970: row["absolute_expires_at"]),
            revokedAt: (row["revoked_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
            userAgent: row["user_agent"]
        )
    }

    func revokeSession(of token: RefreshToken, now: Date) async throws -> Bool {
        let hash = Data(token.hash)
        return try await database.storageWrite { db in
            guard let record = try Self.token(hash: hash, db) else { return false }
            try Self.revoke(sessionID: record.sessionID, reason: "logout", now: now, db)
            return db.changesCount > 0
        }
    }

    func revokeSession(id: String, userID: String, now: Date) async throws -> Bool {
        try await database.storageWrite { db in
            try db.executeCached(
                sql: """
                    UPDATE sessions SET revoked_at = ?, revoke_reason = 'deleted'
                    WHERE id = ? AND user_id = ? AND revoked_at IS NULL AND idle_expires_at > ? AND absolute_expires_at > ?
                    """,
                arguments: [now.timeIntervalSince1970, id, userID, now.timeIntervalSince1970, now.timeIntervalSince1970]
            )
            return db.changesCount > 0
        }
    }

    private static func revoke(sessionID: String, reason: String, now: Date, _ db: Database) throws {
        try db.executeCached(
            sql: "UPDATE sessions SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL",
            arguments: [now.timeIntervalSince1970, reason, sessionID]
        )
    }

    func revokeAllSessions(userID: String, now: Date) async throws -> Int {
        try await database.storageWrite { db in
            try db.executeCached(
                sql: "UPDATE sessions SET revoked_at = ?, revoke_reason = 'logout_all' WHERE user_id = ? AND revoked_at IS NULL",
                arguments: [now.timeIntervalSince1970, userID]
            )
            return db.changesCount
        }
    }

    func liveSessions(userID: String, now: Date) async throws -> [SessionRecord] {
        try await database.read { db in
            try Row.fetchAllCached(
                db,
                sql: """
                    SELECT * FROM sessions
                    WHERE user_id = ? AND revoked_at IS NULL AND idle_expires_at > ? AND absolute_expires_at > ?
                    ORDER BY last_used_at DESC, id
                    """,
                arguments: [userID, now.timeIntervalSince1970, now.timeIntervalSince1970]
            ).map(Self.session)
        }
    }

    // MARK: Throttling

    func admit(_ key: String, limit: Int, window: Double, now: Date) async throws -> Admission {
        try await database.storageWrite { db in try Self.admit(key, limit: limit, window: window, now: now, db) }
    }

    /// A fixed-window admission inside the caller's write transaction.
    private static func admit(_ key: String, limit: Int, window: Double, now: Date, _ db: Database) throws -> Admission {
        let (admission, counter) = ThrottlePolicy.admitInWindow(try counter(key, db), limit: limit, window: window, now: now)
        if admission == .admitted { try save(counter, key, db) }
        return admission
    }

    func admitLogin(accountKey: String, addressKey: String, settings: ThrottleSettings, now: Date) async throws -> Admission {
        try await database.storageWrite { db in
            let (addressAdmission, address) = ThrottlePolicy.admitInWindow(
                try Self.counter(addressKey, db),
                limit: settings.loginFailuresPerAddress,
                window: settings.loginAddressWindow,
                now: now
            )
            let (accountAdmission, account) = ThrottlePolicy.admitAccountAttempt(try Self.counter(accountKey, db), settings: settings, now: now)
            switch (addressAdmission, accountAdmission) {
            case (.admitted, .admitted):
                try Self.save(address, addressKey, db)
                try Self.save(account, accountKey, db)
                return .admitted
            case (.throttled(let a), .throttled(let b)): return .throttled(retryAfter: max(a, b))
            case (.throttled(let a), _), (_, .throttled(let a)): return .throttled(retryAfter: a)
            }
        }
    }

    func recordLoginSuccess(accountKey: String, addressKey: String) async throws {
        try await database.storageWrite { db in
            try db.executeCached(sql: "DELETE FROM throttles WHERE key = ?", arguments: [accountKey])
            try db.executeCached(sql: "UPDATE throttles SET count = MAX(count - 1, 0) WHERE key = ?", arguments: [addressKey])
        }
    }

    func refundLoginAttempt(accountKey: String, addressKey: String, settings: ThrottleSettings) async throws {
        try await database.storageWrite { db in
            if let account = try Self.counter(accountKey, db) {
                try Self.save(ThrottlePolicy.refundAccountAttempt(account, settings: settings), accountKey, db)
            }
            try db.executeCached(sql: "UPDATE throttles SET count = MAX(count - 1, 0) WHERE key = ?", arguments: [addressKey])
        }
    }

    private static func counter(_ key: String, _ db: Database) throws -> ThrottleCounter? {
        try Row.fetchOneCached(db, sql: "SELECT * FROM throttles WHERE key = ?", arguments: [key]).map { row in
            ThrottleCounter(
                count: row["count"],
                windowStart: Date(timeIntervalSince1970: row["window_start"]),
                blockedUntil: (row["blocked_until"] as Double?).map(Date.init(timeIntervalSince1970:))
            )
        }
    }

    private static func save(_ counter: ThrottleCounter, _ key: String, _ db: Database) throws {
        try db.executeCached(
            sql: """
                INSERT INTO throttles (key, count, window_start, blocked_until) VALUES (?, ?, ?, ?)
                ON CONFLICT (key) DO UPDATE SET count = excluded.count, window_start = excluded.window_start, blocked_until = excluded.blocked_until
                """,
            arguments: [key, counter.count, counter.windowStart.timeIntervalSince1970, counter.blockedUntil?.timeIntervalSince1970]
        )
    }

    // MARK: Maintenance

    func prune(now: Date, retention: Double, longestWindow: Double, accountMemory: Double) async throws -> Int {
        try await database.storageWrite { db in
            let before = now.timeIntervalSince1970 - retention
            try db.executeCached(
                sql: """
                    DELETE FROM sessions
                    WHERE (revoked_at IS NOT NULL AND revoked_at < ?) OR idle_expires_at < ? OR absolute_expires_at < ?
                    """,
                arguments: [before, before, before]
            )
            var removed = db.changesCount
            try db.executeCached(
                sql: """
                    DELETE FROM throttles
                    WHERE (blocked_until IS NULL OR blocked_until < ?)
                      AND window_start < CASE WHEN substr(key, 1, ?) = ? THEN ? ELSE ? END
                    """,
                arguments: [
                    now.timeIntervalSince1970, ThrottleKey.accountPrefix.utf8.count, ThrottleKey.accountPrefix,
                    now.timeIntervalSince1970 - accountMemory, now.timeIntervalSince1970 - longestWindow,
                ]
            )
            removed += db.changesCount
            return removed
        }
    }

    func isReachable() async -> Bool {
        (try? await database.read { db in try Int.fetchOne(db, sql: "SELECT 1") }) != nil
    }
}
