import AuthStackCore
import Foundation

/// Abuse limits of docs/design.md §6. All counters live in the database so that every replica sees them.
struct ThrottleSettings: Sendable, Equatable {
    /// Consecutive failed logins an account may have before it must wait (default 5).
    var accountFreeFailures = 5
    /// The first wait, doubling per further failure (default 1 s)…
    var accountBaseDelay: Double = 1
    /// …up to this (default 15 min).
    var accountMaximumDelay: Double = 900
    /// Failed logins one client address may make per window (default 100 per 15 min).
    var loginFailuresPerAddress = 100
    var loginAddressWindow: Double = 900
    /// Signups one client address may make per minute (default 60).
    var signupsPerAddressPerMinute = 60
    /// Refreshes one client address may make per minute (default 1,200).
    var refreshesPerAddressPerMinute = 1_200
    /// How long an account's failure streak is remembered after its last attempt when no login succeeds (default a
    /// day). Only a success resets a streak sooner: forgetting it when its window ended would hand an attacker the
    /// free failures and the short waits again every quarter of an hour (docs/security.md, "Login throttling").
    var accountMemory: Double = 86_400
}

/// The throttle counters' keys, one prefix per kind of limit.
enum ThrottleKey {
    /// An account's failed-login streak (kept until a success, or ``ThrottleSettings/accountMemory`` after its last
    /// attempt).
    static let accountPrefix = "login-account:"

    /// The streak key of the account `username` names.
    static func account(_ username: String) -> String { accountPrefix + Username.key(username) }

    /// The key of the failed password checks (logins, password changes) from one client address.
    static func loginAddress(_ address: String) -> String { "login-address:" + address }
}

/// A counter row: `count` events since `windowStart`, and for accounts a wait that ends at `blockedUntil`.
struct ThrottleCounter: Sendable, Equatable {
    var count: Int
    var windowStart: Date
    var blockedUntil: Date?
}

/// Whether a request may proceed.
enum Admission: Equatable, Sendable {
    case admitted
    /// Refused; retry after this many whole seconds (≥ 1), the `Retry-After` value.
    case throttled(retryAfter: Int)

    static func retryAfter(_ seconds: Double) -> Admission { .throttled(retryAfter: max(1, Int(seconds.rounded(.up)))) }
}

/// The pure arithmetic of the limits; the store applies it inside one write transaction per request.
enum ThrottlePolicy {
    /// A fixed-window limit: admits and counts the event, or refuses until the window ends.
    static func admitInWindow(_ counter: ThrottleCounter?, limit: Int, window: Double, now: Date) -> (Admission, ThrottleCounter) {
        var counter = counter ?? ThrottleCounter(count: 0, windowStart: now)
        // A window that ended — or lies in the future after the clock stepped back — starts over.
        if now.timeIntervalSince(counter.windowStart) >= window || counter.windowStart > now {
            counter = ThrottleCounter(count: 0, windowStart: now)
        }
        guard counter.count < limit else {
            return (.retryAfter(counter.windowStart.addingTimeInterval(window).timeIntervalSince(now)), counter)
        }
        counter.count += 1
        return (.admitted, counter)
    }

    /// An account's login attempt, counted as a failure before the password hash runs (a success resets it), so that
    /// parallel guesses cannot all slip in before the first failure is recorded.
    static func admitAccountAttempt(_ counter: ThrottleCounter?, settings: ThrottleSettings, now: Date) -> (Admission, ThrottleCounter) {
        var counter = counter ?? ThrottleCounter(count: 0, windowStart: now)
        if let blockedUntil = counter.blockedUntil, blockedUntil > now {
            // The wait never exceeds the maximum, even after the clock stepped back.
            return (.retryAfter(min(blockedUntil.timeIntervalSince(now), settings.accountMaximumDelay)), counter)
        }
        counter.count += 1
        // An account's counter has no window: `windowStart` records its last attempt, from which the prune measures
        // ``ThrottleSettings/accountMemory``.
        counter.windowStart = now
        let excess = counter.count - settings.accountFreeFailures
        if excess >= 0 {
            let delay = min(settings.accountMaximumDelay, settings.accountBaseDelay * pow(2, Double(min(excess, 40))))
            counter.blockedUntil = now.addingTimeInterval(delay)
        }
        return (.admitted, counter)
    }

    /// Takes back an account attempt whose password was never checked (the hashing pool shed it: 503). Without this a
    /// flood that overloads the pool would lock out the accounts of users who merely retried. The wait goes only if
    /// the remaining count no longer earns one; a wait earned by real failures stays.
    static func refundAccountAttempt(_ counter: ThrottleCounter, settings: ThrottleSettings) -> ThrottleCounter {
        var counter = counter
        counter.count = max(counter.count - 1, 0)
        if counter.count < settings.accountFreeFailures { counter.blockedUntil = nil }
        return counter
    }
}
