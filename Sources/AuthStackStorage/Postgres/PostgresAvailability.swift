import AuthStackCore
import Foundation
import Logging
import Synchronization

/// Whether a pool's database can serve now (docs/design.md §7 "When the database misbehaves"), from what postgres-nio's
/// pool reports about its connection attempts, and the callers waiting for a connection meanwhile.
///
/// - The first failed connection attempt makes the database unavailable: every caller then waiting for a connection is
///   answered at once, and later callers are refused without waiting (``check()``); the episode is logged once.
/// - An established connection, or a probe's answer, makes it available again (logged once, with the episode's length).
///
/// postgres-nio tells its observability delegate of each attempt; the delegate it installs writes them to the client's
/// background logger ("Connection creation failed", "Connection established"), which is how they reach us
/// (``ConnectionEventsLogHandler``). Both messages are pinned by `Package.resolved`; the outage tests fail if they move.
final class PostgresAvailability: Sendable {
    /// A caller waiting for a connection: answered with the refusal when the database becomes unavailable first.
    struct Waiter: Sendable {
        let race: LeaseRace
        let refuse: @Sendable (StorageUnavailable) -> Void
    }

    private struct State {
        var unavailable: (cause: StorageUnavailable.Cause, since: ContinuousClock.Instant)?
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
        var probing = false
    }

    private let state = Mutex(State())
    private let logger: Logger
    private let database: String
    /// Starts the probe that ends an episode (set by the pool once its client exists).
    private let probe = Mutex<(@Sendable () -> Void)?>(nil)

    init(logger: Logger, database: String) {
        self.logger = logger
        self.database = database
    }

    /// Installs what starts a probe when an episode begins.
    func onUnavailable(probe start: @escaping @Sendable () -> Void) { probe.withLock { $0 = start } }

    /// Refuses at once while the database is unavailable.
    func check() throws(StorageUnavailable) {
        if let cause = state.withLock({ $0.unavailable?.cause }) { throw StorageUnavailable(cause) }
    }

    /// Whether callers may ask for connections.
    var isAvailable: Bool { state.withLock { $0.unavailable == nil } }

    /// Registers a caller waiting for a connection; ``leave(_:)`` when it has one or gave up.
    func wait(_ waiter: Waiter) -> Int {
        state.withLock { state in
            defer { state.nextWaiter += 1 }
            state.waiters[state.nextWaiter] = waiter
            return state.nextWaiter
        }
    }

    func leave(_ id: Int) { _ = state.withLock { $0.waiters.removeValue(forKey: id) } }

    /// A connection attempt failed: the database is unavailable for `cause` (a new episode, unless one is going on).
    func connectFailed(_ cause: StorageUnavailable.Cause) {
        let (began, waiters, startProbe) = state.withLock { state -> (Bool, [Waiter], Bool) in
            let began = state.unavailable == nil
            if began { state.unavailable = (cause, .now) }
            let waiters = Array(state.waiters.values)
            state.waiters = [:]
            let startProbe = !state.probing
            state.probing = true
            return (began, waiters, startProbe)
        }
        for waiter in waiters where waiter.race.abandoned() { waiter.refuse(StorageUnavailable(cause)) }
        if began {
            logger.error(
                "database unavailable; refusing requests that need it with 503 until it answers",
                metadata: ["database": "\(database)", "cause": "\(cause.rawValue)"]
            )
        }
        if startProbe { probe.withLock { $0 }?() }
    }

    /// A connection was established, or a probe answered: the database serves again.
    func connected() {
        let since = state.withLock { state -> ContinuousClock.Instant? in
            defer { state.unavailable = nil }
            return state.unavailable?.since
        }
        if let since {
            logger.notice("database available again", metadata: ["database": "\(database)", "unavailable_for": "\(since.duration(to: .now))"])
        }
    }

    /// The probe ended (it saw the database, or the pool closed).
    func probeEnded() { state.withLock { $0.probing = false } }
}

/// Who wins between a lease's connection and its refusal (its timer, or the database becoming unavailable): exactly
/// one of ``leased()`` and ``abandoned()`` returns true.
final class LeaseRace: Sendable {
    private let state = Atomic<Int>(0)  // 0 waiting, 1 leased, 2 abandoned

    /// A connection came: true unless the caller was already refused (then the connection must not be used).
    func leased() -> Bool { state.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged }

    /// The caller is refused: true unless a connection came first.
    func abandoned() -> Bool { state.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing).exchanged }
}

/// The log handler of a postgres-nio client's background logger: passes every record on to `base` at `base`'s level,
/// and tells `availability` of connection attempts that failed or succeeded.
struct ConnectionEventsLogHandler: LogHandler {
    let base: Logger
    let availability: PostgresAvailability
    var metadata: Logger.Metadata = [:]
    /// Debug: "Connection established" is a debug record; what is below `base`'s level is not passed on.
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        switch event.message.description {
        case "Connection creation failed":
            let error = event.metadata.flatMap { $0["psql_error"] ?? $0["error"] }.map { "\($0)" } ?? ""
            availability.connectFailed(error.contains("sqlState: 53300") ? .tooManyConnections : .unreachable)
        case "Connection established":
            availability.connected()
        default:
            break
        }
        guard event.level >= base.logLevel else { return }
        base.log(
            level: event.level,
            event.message,
            metadata: metadata.merging(event.metadata ?? [:]) { $1 },
            source: event.source,
            file: event.file,
            function: event.function,
            line: event.line
        )
    }
}
