/// The database cannot serve a request now, for a reason that is not the request's fault and may pass (docs/design.md
/// §7 "When the database misbehaves"): every service answers it with 503 `service_unavailable` and `Retry-After`,
/// never with a 500, and the storage layer logs the cause once per episode.
public struct StorageUnavailable: Error, Sendable, Equatable, CustomStringConvertible {
    /// Why.
    public enum Cause: String, Sendable, CaseIterable {
        /// The server cannot be reached, or went away under a statement (a crash, a failover, a restart).
        case unreachable
        /// The server refuses more connections (PostgreSQL `53300`).
        case tooManyConnections = "too_many_connections"
        /// The disk or file system is full (SQLite `SQLITE_FULL`, PostgreSQL `53100`): reads go on, writes wait.
        case diskFull = "disk_full"
    }

    /// Why the database cannot serve.
    public let cause: Cause

    /// The cause.
    public init(_ cause: Cause) { self.cause = cause }

    /// Seconds a client should wait before trying again: a second for a server that is coming back, longer for a full
    /// disk, which an operator has to clear.
    public var retryAfter: Int {
        switch cause {
        case .unreachable, .tooManyConnections: 1
        case .diskFull: 30
        }
    }

    /// What the problem's `detail` says: the kind of failure, nothing about the server.
    public var detail: String {
        switch cause {
        case .unreachable: "The database is unreachable; retry shortly."
        case .tooManyConnections: "The database accepts no more connections; retry shortly."
        case .diskFull: "The database is out of space; writes are refused until an operator frees some."
        }
    }

    public var description: String { "storage unavailable: \(cause.rawValue)" }
}
