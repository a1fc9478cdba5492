import AuthStackCore
import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import Prometheus

/// Named readiness checks that `/readyz` runs (database reachable, keyring held, …).
public final class ReadinessProbe: Sendable {
    /// One check: a name for the response and a function answering "ready?".
    public struct Check: Sendable {
        /// Shown in the `/readyz` body.
        public let name: String
        /// `true` when this dependency is ready.
        public let isReady: @Sendable () async -> Bool
    }

    private let checks = NIOLockedValueBox<[Check]>([])

    /// An empty probe: ready until a check says otherwise.
    public init() {}

    /// Adds a check.
    public func add(_ name: String, _ isReady: @escaping @Sendable () async -> Bool) {
        checks.withLockedValue { $0.append(Check(name: name, isReady: isReady)) }
    }

    /// Runs every check; the names of those that are not ready.
    public func notReady() async -> [String] {
        var failing: [String] = []
        for check in checks.withLockedValue({ $0 }) where await !check.isReady() {
            failing.append(check.name)
        }
        return failing
    }
}

/// `/healthz` (liveness), `/readyz` (readiness) and `/metrics` (Prometheus text format), on every service.
public struct OperationalRoutes: Sendable {
    /// The registry `/metrics` exposes.
    public let registry: PrometheusCollectorRegistry
    /// The checks `/readyz` runs.
    public let readiness: ReadinessProbe

    /// Routes over `registry` and `readiness`.
    public init(registry: PrometheusCollectorRegistry, readiness: ReadinessProbe) {
        self.registry = registry
        self.readiness = readiness
    }

    /// Adds `/healthz` and `/readyz` to `router`, and `/metrics` unless `metrics` is false (it is served on a port of
    /// its own then, ``addMetricsRoute(to:)``).
    public func addRoutes<Context: RequestContext>(to router: ServiceRouter<Context>, metrics: Bool = true) {
        router.get("/healthz") { _, _ in
            Self.json(#"{"status":"ok"}"#)
        }
        router.get("/readyz") { _, _ in
            let failing = await readiness.notReady()
            guard failing.isEmpty else {
                return ProblemDetails(.serviceUnavailable, detail: "Not ready: \(failing.joined(separator: ", ")).", retryAfter: 1).response()
            }
            return Self.json(#"{"status":"ready"}"#)
        }
        if metrics { router.get("/metrics") { _, _ in metricsResponse() } }
    }

    /// Adds `/metrics` alone to `router`: the separate metrics listener (`<PREFIX>_METRICS_PORT`).
    public func addMetricsRoute<Context: RequestContext>(to router: Router<Context>) {
        router.get("/metrics") { _, _ in metricsResponse() }
    }

    private func metricsResponse() -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
        )
    }

    static func json(_ body: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body))
        )
    }
}
