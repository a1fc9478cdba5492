import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import Foundation
import PostgresNIO

/// Throttle counters, maintenance and schema of ``PostgresIdentityStore``.
extension PostgresIdentityStore {
    /// The schema, step by step (numbers are never reused; a change is a new step). Same tables as SQLite's.
    static let migrations = [
        PostgresMigration(
            version: 1,
            statements: [
                """
                CREATE TABLE users (
                    id text PRIMARY KEY,
                    username text NOT NULL,
                    username_key text NOT NULL CONSTRAINT users_username_key_unique UNIQUE,
                    password_hash text NOT NULL,
                    created_at double precision NOT NULL
                )
                """,
                """
                CREATE TABLE sessions (
                    id text PRIMARY KEY,
                    user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    generation bigint NOT NULL,
                    created_at double precision NOT NULL,
                    last_used_at double precision NOT NULL,
                    idle_expires_at double precision NOT NULL,
                    absolute_expires_at double precision NOT NULL,
                    revoked_at double precision,
                    revoke_reason text,
                    user_agent text
                )
                """,
                "CREATE INDEX sessions_by_user ON sessions (user_id, last_used_at DESC)",
                """
                CREATE TABLE refresh_tokens (
                    token_hash bytea PRIMARY KEY,
                    session_id text NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                    generation bigint NOT NULL,
                    issued_at double precision NOT NULL,
                    consumed_at double precision,
                    sealed_successor bytea,
                    UNIQUE (session_id, generation)
                )
                """,
                """
                CREATE TABLE throttles (
                    key text PRIMARY KEY,
                    count bigint NOT NULL,
                    window_start double precision NOT NULL,
                    blocked_until double precision
                )
                """,
            ]
        )
    ]

    // MARK: Throttling

    func admit(_ key: String, limit: Int, window: Double, now: Date) async throws -> Admission {
        try await pool.transaction { connection in
            let counters = try await Self.lockCounters([key], connection)
            let (admission, counter) = ThrottlePolicy.admitInWindow(counters[key], limit: limit, window: window, now: now)
            if admission == .admitted { try await Self.save(counter, key, connection) }
            return admission
        }
    }

    func admitLogin(accountKey: String, addressKey: String, settings: ThrottleSettings, now: Date) async throws -> Admission {
        try await pool.transaction { connection in
            let counters = try await Self.lockCounters([accountKey, addressKey], connection)
            let (addressAdmission, address) = ThrottlePolicy.admitInWindow(
                counters[addressKey],
                limit: settings.loginFailuresPerAddress,
                window: settings.loginAddressWindow,
                now: now
            )
            let (accountAdmission, account) = ThrottlePolicy.admitAccountAttempt(counters[accountKey], settings: settings, now: now)
            switch (addressAdmission, accountAdmission) {
            case (.admitted, .admitted):
                try await Self.save(address, addressKey, connection)
                try await Self.save(account, accountKey, connection)
                return .admitted
            case (.throttled(let a), .throttled(let b)): return .throttled(retryAfter: max(a, b))
            case (.throttled(let a), _), (_, .throttled(let a)): return .throttled(retryAfter: a)
            }
        }
    }

    func recordLoginSuccess(accountKey: String, addressKey: String) async throws {
        try await pool.transaction { connection in
            _ = try await Self.lockCounters([accountKey, addressKey], connection)
            try await connection.rows("DELETE FROM throttles WHERE key = \(accountKey)")
            try await connection.rows("UPDATE throttles SET count = GREATEST(count - 1, 0) WHERE key = \(addressKey)")
        }
    }

    func refundLoginAttempt(accountKey: String, addressKey: String, settings: ThrottleSettings) async throws {
        try await pool.transaction { connection in
            let counters = try await Self.lockCounters([accountKey, addressKey], connection)
            if let account = counters[accountKey] {
                try await Self.save(ThrottlePolicy.refundAccountAttempt(account, settings: settings), accountKey, connection)
            }
            try await connection.rows("UPDATE throttles SET count = GREATEST(count - 1, 0) WHERE key = \(addressKey)")
        }
    }

    /// Takes the transaction's advisory lock on each key, in sorted order so that two transactions never wait for
    /// each other, then reads the counters. A lock on the key rather than the row covers counters not yet created:
    /// two first failures cannot both insert a count of 1.
    private static func lockCounters(_ keys: [String], _ connection: PostgresConnection) async throws -> [String: ThrottleCounter] {
        for key in Set(keys).sorted() {
            try await connection.rows("SELECT pg_advisory_xact_lock(hashtextextended('authstack-throttle:' || \(key), 0))")
        }
        var counters: [String: ThrottleCounter] = [:]
        for row in try await connection.rows("SELECT key, count, window_start, blocked_until FROM throttles WHERE key = ANY(\(keys))") {
            let (key, count, windowStart, blockedUntil) = try row.decode((String, Int, Double, Double?).self)
            counters[key] = ThrottleCounter(
                count: count,
                windowStart: Date(timeIntervalSince1970: windowStart),
                blockedUntil: blockedUntil.map(Date.init(timeIntervalSince1970:))
            )
        }
        return counters
    }

    private static func save(_ counter: ThrottleCounter, _ key: String, _ connection: PostgresConnection) async throws {
        try await connection.rows(
            """
            INSERT INTO throttles (key, count, window_start, blocked_until)
            VALUES (\(key), \(counter.count), \(counter.windowStart.timeIntervalSince1970), \(counter.blockedUntil?.timeIntervalSince1970))
            ON CONFLICT (key) DO UPDATE SET count = excluded.count, window_start = excluded.window_start, blocked_until = excluded.blocked_until
            """
        )
    }

    // MARK: Maintenance

    func prune(now: Date, retention: Double, longestWindow: Double, accountMemory: Double) async throws -> Int {
        try await pool.transaction { connection in
            let before = now.timeIntervalSince1970 - retention
            let sessions = try await connection.rows(
                """
                DELETE FROM sessions
                WHERE (revoked_at IS NOT NULL AND revoked_at < \(before)) OR idle_expires_at < \(before) OR absolute_expires_at < \(before)
                RETURNING id
                """
            )
            let windowEnded = now.timeIntervalSince1970 - longestWindow
            let streakForgotten = now.timeIntervalSince1970 - accountMemory
            let time = now.timeIntervalSince1970
            let prefix = ThrottleKey.accountPrefix
            let counters = try await connection.rows(
                """
                DELETE FROM throttles
                WHERE (blocked_until IS NULL OR blocked_until < \(time))
                  AND window_start < CASE WHEN starts_with(key, \(prefix)) THEN \(streakForgotten) ELSE \(windowEnded) END
                RETURNING key
                """
            )
            return sessions.count + counters.count
        }
    }

    func isReachable() async -> Bool {
        await pool.answers()
    }
}
