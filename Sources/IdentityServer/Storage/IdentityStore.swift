import AuthStackCore
import AuthStackStorage
import Foundation

/// A user as stored.
struct UserRecord: Sendable, Equatable {
    var id: String
    /// As signed up (shown back); uniqueness and login use ``Username/key(_:)``.
    var username: String
    /// PHC scrypt string, or an imported bcrypt hash until the next successful login rehashes it.
    var passwordHash: String
    var createdAt: Date
}

/// Failures a store reports as such (everything else is an internal error).
enum IdentityStoreError: Error, Equatable {
    case usernameTaken
}

/// The outcome of ``IdentityStore/refresh(_:now:settings:)``.
enum RefreshResult: Sendable, Equatable {
    /// A successor was issued (`.rotate`) or the same successor handed out again (`.replay`).
    case issued(RefreshToken, session: SessionRecord, user: UserRecord, replayed: Bool)
    /// A consumed token was reused: the session is now revoked.
    case reused(sessionID: String)
    case invalid
    /// The per-address refresh limit refused it before the token was looked at (nothing consumed).
    case throttled(retryAfter: Int)
}

/// A fixed-window limit a refresh must pass first, checked by the store (in the refresh's own transaction where that
/// is cheaper: SQLite has one writer, so one transaction instead of two).
struct RefreshAdmission: Sendable, Equatable {
    var key: String
    var limit: Int
    var window: Double
}

/// Everything the identity service keeps. Each method is one atomic transaction; SQLite is the embedded
/// implementation (``SQLiteIdentityStore``); PostgreSQL will implement the same contract for scaled deployments.
protocol IdentityStore: Sendable {
    func createUser(_ user: UserRecord) async throws
    func user(usernameKey: String) async throws -> UserRecord?
    func user(id: String) async throws -> UserRecord?
    /// Replaces a password hash only if it is still `old` (a concurrent rehash or change wins once).
    func replacePasswordHash(userID: String, old: String, new: String) async throws
    /// A password change (`POST /password`): in one transaction, the hash replaced if it is still `old`, and every
    /// live session of the user but `keeping` revoked. Nil when the hash had changed meanwhile (nothing written);
    /// else how many sessions were revoked.
    func changePassword(userID: String, old: String, new: String, keeping sessionID: String?, now: Date) async throws -> Int?
    /// Users imported from another system; existing usernames are skipped. Returns (imported, skipped usernames).
    func importUsers(_ users: [UserRecord]) async throws -> (imported: Int, skipped: [String])

    func createSession(_ session: SessionRecord, firstToken: RefreshToken) async throws
    /// Decides and applies one refresh (``RefreshDecision``) in a single transaction.
    func refresh(_ token: RefreshToken, admission: RefreshAdmission?, now: Date, settings: RefreshSettings) async throws -> RefreshResult
    /// Revokes the session a refresh token (consumed or not) belongs to; false when there is none live.
    func revokeSession(of token: RefreshToken, now: Date) async throws -> Bool
    /// Revokes one live session of a user; false when the user has no such live session.
    func revokeSession(id: String, userID: String, now: Date) async throws -> Bool
    /// Revokes every live session of a user; returns how many.
    func revokeAllSessions(userID: String, now: Date) async throws -> Int
    /// The user's live sessions, most recently used first.
    func liveSessions(userID: String, now: Date) async throws -> [SessionRecord]

    /// Applies one fixed-window limit to `key` (admitting counts the event).
    func admit(_ key: String, limit: Int, window: Double, now: Date) async throws -> Admission
    /// Admits a login attempt against both the account's and the client address's failure limits, counting it as a
    /// failure in both (``ThrottlePolicy/admitAccountAttempt(_:settings:now:)``); nothing is counted when refused.
    func admitLogin(accountKey: String, addressKey: String, settings: ThrottleSettings, now: Date) async throws -> Admission
    /// A successful login: clears the account's failures and takes the attempt back from the address's count.
    func recordLoginSuccess(accountKey: String, addressKey: String) async throws
    /// Takes back the attempt `admitLogin` counted when the password was never checked (hashing overloaded).
    func refundLoginAttempt(accountKey: String, addressKey: String, settings: ThrottleSettings) async throws

    /// Deletes what can no longer matter: sessions ended more than `retention` ago (with their tokens), throttle
    /// counters whose windows and waits are over, and account streaks (``ThrottleKey/accountPrefix``) whose last
    /// attempt is more than `accountMemory` ago and whose wait is over. Returns the number of rows removed.
    func prune(now: Date, retention: Double, longestWindow: Double, accountMemory: Double) async throws -> Int
    /// Whether the database answers (for `/readyz`).
    func isReachable() async -> Bool
}

extension IdentityStore {
    /// A refresh with no admission limit.
    func refresh(_ token: RefreshToken, now: Date, settings: RefreshSettings) async throws -> RefreshResult {
        try await refresh(token, admission: nil, now: now, settings: settings)
    }
}
