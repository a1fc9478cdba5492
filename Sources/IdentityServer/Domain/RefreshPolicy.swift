import AuthStackCore
import Foundation

/// Lifetimes of a session's refresh tokens (docs/design.md §2, §3).
struct RefreshSettings: Sendable, Equatable {
    /// A session dies after this long without a refresh (default 14 days); each refresh extends it.
    var idleLifetime: Double = 14 * 86_400
    /// …and this long after login whatever happens (default 30 days).
    var absoluteLifetime: Double = 30 * 86_400
    /// A consumed token may be replayed for this long after its first use, for lost responses and two tabs (default 10 s).
    var graceWindow: Double = 10
}

/// A session (a refresh-token family) as stored.
struct SessionRecord: Sendable, Equatable {
    var id: String
    var userID: String
    /// Generation of the session's newest refresh token; the first token is generation 0.
    var generation: Int
    var createdAt: Date
    var lastUsedAt: Date
    var idleExpiresAt: Date
    var absoluteExpiresAt: Date
    var revokedAt: Date?
    var userAgent: String?

    /// When the session ends if nothing happens: the earlier of its idle and absolute limits.
    var expiresAt: Date { min(idleExpiresAt, absoluteExpiresAt) }

    func isLive(at now: Date) -> Bool { revokedAt == nil && now < expiresAt }
}

/// A stored refresh token (its hash is the key).
struct RefreshTokenRecord: Sendable, Equatable {
    var sessionID: String
    var generation: Int
    var issuedAt: Date
    /// First use; never moved by replays, so replays cannot extend the grace window.
    var consumedAt: Date?
    /// The successor, sealed under a key derived from this token (see ``SuccessorSealing``).
    var sealedSuccessor: [UInt8]?
}

/// What a refresh does with a presented token (docs/design.md §3). Pure: the store applies it in the transaction that read
/// the token and its session, so concurrent refreshes with one token see one consistent history.
enum RefreshDecision: Equatable, Sendable {
    /// Unused newest token of a live session: consume it and issue a successor.
    case rotate
    /// The immediate predecessor of the newest token, first used less than the grace window ago: answer with the
    /// same successor again.
    case replay
    /// Any other use of a consumed token: revoke the whole session.
    case reuse
    /// Unknown, expired or revoked: `invalid_refresh_token`, no change.
    case invalid

    static func decide(token: RefreshTokenRecord, session: SessionRecord, now: Date, settings: RefreshSettings) -> RefreshDecision {
        guard session.isLive(at: now) else { return .invalid }
        guard let consumedAt = token.consumedAt else {
            // An unconsumed token is the session's newest by construction; anything else is a corrupt row.
            return token.generation == session.generation ? .rotate : .invalid
        }
        let isImmediatePredecessor = token.generation == session.generation - 1
        // A clock that stepped back (now < consumedAt) counts as inside the window, never as reuse.
        let insideGrace = now.timeIntervalSince(consumedAt) < settings.graceWindow
        if isImmediatePredecessor && insideGrace && token.sealedSuccessor != nil { return .replay }
        return .reuse
    }

    /// The session after a rotation at `now`: one generation on, used now, idle limit extended but never past the
    /// absolute limit.
    static func rotated(_ session: SessionRecord, now: Date, settings: RefreshSettings) -> SessionRecord {
        var session = session
        session.generation += 1
        session.lastUsedAt = now
        session.idleExpiresAt = min(now.addingTimeInterval(settings.idleLifetime), session.absoluteExpiresAt)
        return session
    }
}

/// The one write a refresh makes, if any, in the transaction that read the token and its session. Both stores apply
/// it through ``RefreshDecision/outcome(presenting:record:session:user:now:settings:)``, so that they differ only in
/// the SQL.
enum RefreshWrite: Equatable, Sendable {
    /// A consumed token was reused: revoke the session (reason `refresh_token_reused`) unless it already is.
    case revokeForReuse(sessionID: String, at: Date)
    /// A replay inside the grace window: the session was used again at `lastUsedAt`.
    case touch(sessionID: String, lastUsedAt: Date)
    /// A rotation: store `successor` (generation `session.generation`, issued `at`), mark the presented token consumed
    /// `at` with `sealedSuccessor`, and save `session`'s new generation, last use and idle limit.
    case rotate(successor: RefreshToken, sealedSuccessor: [UInt8], session: SessionRecord, at: Date)
}

extension RefreshDecision {
    /// What a refresh that presented `token` answers, and the write that makes it so, from the rows read under lock:
    /// the token's `record`, its `session` and the session's `user`.
    static func outcome(
        presenting token: RefreshToken,
        record: RefreshTokenRecord,
        session: SessionRecord,
        user: UserRecord,
        now: Date,
        settings: RefreshSettings
    ) -> (result: RefreshResult, write: RefreshWrite?) {
        switch decide(token: record, session: session, now: now, settings: settings) {
        case .invalid:
            return (.invalid, nil)
        case .reuse:
            return (.reused(sessionID: session.id), .revokeForReuse(sessionID: session.id, at: now))
        case .replay:
            guard let sealed = record.sealedSuccessor, let successor = SuccessorSealing.open(sealed, predecessor: token, sessionID: session.id)
            else { return (.invalid, nil) }
            var used = session
            used.lastUsedAt = max(now, session.lastUsedAt)
            return (.issued(successor, session: used, user: user, replayed: true), .touch(sessionID: session.id, lastUsedAt: used.lastUsedAt))
        case .rotate:
            let successor = RefreshToken.generate()
            let rotated = rotated(session, now: now, settings: settings)
            let sealed = SuccessorSealing.seal(successor, predecessor: token, sessionID: session.id)
            return (
                .issued(successor, session: rotated, user: user, replayed: false),
                .rotate(successor: successor, sealedSuccessor: sealed, session: rotated, at: now)
            )
        }
    }
}
