import AuthStackCore
import Foundation

/// Lifetimes of a session's refresh tokens (DESIGN.md §2, §3).
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

/// What a refresh does with a presented token (DESIGN.md §3). Pure: the store applies it in the transaction that read
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
