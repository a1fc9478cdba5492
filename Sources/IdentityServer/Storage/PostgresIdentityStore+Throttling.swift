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

    /// One statement, one round trip, the counter's row locked only while it runs: ``ThrottlePolicy/admitInWindow``
    /// written as an upsert that counts only an admitted request. Every refresh passes here first, and all of an
    /// address's refreshes queue on its row, so a transaction holding a lock across round trips (the general
    /// lock-read-write of ``lockCounters(_:_:)``) capped one address at ≈ 370 refreshes a second here; this at ≈ 600.
    /// No row back means refused: the counter is then read for `Retry-After` and judged by the policy itself. The
    /// conformance suite holds both backends to the same answers (`fixedWindow…`, `concurrentAdmissions…`).
    func admit(_ key: String, limit: Int, window: Double, now: Date) async throws -> Admission {
        guard limit >= 1 else { return ThrottlePolicy.admitInWindow(nil, limit: limit, window: window, now: now).0 }
        let time = now.timeIntervalSince1970
        for _ in 0..<2 {
            let admitted = try await pool.rows(
                """
                INSERT INTO throttles AS t (key, count, window_start, blocked_until) VALUES (\(key), 1, \(time), NULL)
                ON CONFLICT (key) DO UPDATE SET
                    count = CASE WHEN \(time) - t.window_start >= \(window) OR t.window_start > \(time) THEN 1 ELSE t.count + 1 END,
                    window_start = CASE WHEN \(time) - t.window_start >= \(window) OR t.window_start > \(time) THEN \(time) ELSE t.window_start END
                WHERE \(time) - t.window_start >= \(window) OR t.window_start > \(time) OR t.count < \(limit)
                RETURNING count
                """
            )
            if !admitted.isEmpty { return .admitted }
            let counter = try await pool.rows("SELECT count, window_start, blocked_until FROM throttles WHERE key = \(key)").first.map {
                let (count, windowStart, blockedUntil) = try $0.decode((Int, Double, Double?).self)
                return ThrottleCounter(
                    count: count,
                    windowStart: Date(timeIntervalSince1970: windowStart),
                    blockedUntil: blockedUntil.map(Date.init(timeIntervalSince1970:))
                )
            }
            let (admission, _) = ThrottlePolicy.admitInWindow(counter, limit: limit, window: window, now: now)
            // Admitted on this read: the window ended (or the row went) between the two statements. Count again.
            if admission != .admitted { return admission }
        }
        return .throttled(retryAfter: 1)
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
