import AuthStackCore
import Foundation
import Hummingbird
import Logging

/// Settings every service reads from its environment: where to listen and how much to log.
///
/// Variables are prefixed with the service name (`IDENTITY_PORT`, `NOTES_HOST`, …) so that one shell or one compose
/// `.env` can configure the whole stack; `LOG_LEVEL` is shared. Invalid values are a clear start-up error.
public struct ServiceSettings: Sendable, Equatable {
    /// Listen address (default `127.0.0.1`; compose sets `0.0.0.0`).
    public var host: String
    /// Listen port.
    public var port: Int
    /// Lowest log level written.
    public var logLevel: Logger.Level
    /// Seconds a connection may sit without a request in progress — before its first request (slow or silent
    /// clients, slowloris) and between keep-alive requests — before the server closes it (`<PREFIX>_IDLE_TIMEOUT`,
    /// default 75: longer than nginx's 60 s upstream keep-alive, so the gateway never reuses a connection the
    /// service is closing). A request being processed (a 60 s long-poll included) is never cut.
    public var idleTimeout: Double = 75
    /// Seconds from a request's head to the end of its body (`<PREFIX>_BODY_TIMEOUT`, default 30); a slower body gets
    /// 408 `request_timeout` and the connection is closed. Bodies are small here (64 KiB identity, 1 MiB notes), so 30 s
    /// is generous for any real client and short for a slow-body attack.
    public var bodyTimeout: Double = 30
    /// Exact browser origins allowed to call the public APIs cross-origin with credentials (`<PREFIX>_CORS_ORIGINS`,
    /// comma-separated, default none: same-origin only). Used by identity and notes; the key service has no CORS.
    public var corsOrigins: [String] = []
    /// Where `/metrics` is served (docs/security.md): unset (`<PREFIX>_METRICS_PORT`, the default), on the service's own
    /// port beside the API; set, on that port of `<PREFIX>_METRICS_HOST` (default `127.0.0.1`) and nowhere else, so the
    /// API port can face a network while the metrics stay on an address only the scraper reaches.
    public var metrics: MetricsListener?

    /// A separate listener for `/metrics`.
    public struct MetricsListener: Sendable, Equatable {
        /// `<PREFIX>_METRICS_HOST`.
        public var host: String
        /// `<PREFIX>_METRICS_PORT`.
        public var port: Int

        /// `<PREFIX>_METRICS_PORT` and `<PREFIX>_METRICS_HOST`; nil when the port is unset.
        init?(prefix: String, reader: ConfigurationReader) throws(InvalidSetting) {
            let host = try reader.text("\(prefix)_METRICS_HOST", default: "127.0.0.1", accepted: "an IP address or host name")
            guard let port = try reader.optionalInteger("\(prefix)_METRICS_PORT", in: 0...65535) else { return nil }
            self.init(host: host, port: port)
        }

        /// `/metrics` on `host`:`port`.
        public init(host: String = "127.0.0.1", port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// Explicit settings.
    public init(host: String, port: Int, logLevel: Logger.Level = .info) {
        self.host = host
        self.port = port
        self.logLevel = logLevel
    }

    /// Reads `<PREFIX>_HOST`, `<PREFIX>_PORT`, `<PREFIX>_IDLE_TIMEOUT`, `<PREFIX>_BODY_TIMEOUT`, `<PREFIX>_CORS_ORIGINS`,
    /// `<PREFIX>_METRICS_PORT`, `<PREFIX>_METRICS_HOST` and `LOG_LEVEL` from `environment`.
    public init(prefix: String, defaultPort: Int, environment: [String: String]) throws(InvalidSetting) {
        try self.init(prefix: prefix, defaultPort: defaultPort, reader: ConfigurationReader(environment))
    }

    /// Reads the same variables through `reader`.
    public init(prefix: String, defaultPort: Int, reader: ConfigurationReader) throws(InvalidSetting) {
        host = try reader.text("\(prefix)_HOST", default: "127.0.0.1", accepted: "an IP address or host name")
        port = try reader.integer("\(prefix)_PORT", default: defaultPort, in: 0...65535)
        idleTimeout = try reader.seconds("\(prefix)_IDLE_TIMEOUT", default: idleTimeout, in: 1...3_600)
        bodyTimeout = try reader.seconds("\(prefix)_BODY_TIMEOUT", default: bodyTimeout, in: 1...3_600)
        corsOrigins = try reader.origins("\(prefix)_CORS_ORIGINS")
        metrics = try MetricsListener(prefix: prefix, reader: reader)
        logLevel = try reader.choice("LOG_LEVEL", default: Logger.Level.info)
    }
}
