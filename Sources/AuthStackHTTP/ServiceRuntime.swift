import Hummingbird
import Logging
import Prometheus

/// What every AuthStack service shares at run time: its name, logger, metrics registry and readiness checks, and a
/// router pre-wired with the common middleware and the operational endpoints.
public struct ServiceRuntime: Sendable {
    /// `identity`, `notes` or `keys`.
    public let name: String
    /// The service's logger (JSON lines once ``bootstrapLogging(service:level:)`` ran).
    public let logger: Logger
    /// The service's metrics, exposed at `/metrics`.
    public let registry: PrometheusCollectorRegistry
    /// The checks `/readyz` runs.
    public let readiness: ReadinessProbe
    /// Request counts and latencies by route (`http_requests_total`, `http_request_duration_seconds`), kept by the
    /// router's middleware and by inline responders alike.
    public let httpMetrics: HTTPMetrics

    /// A runtime for `name`.
    public init(name: String, logger: Logger? = nil, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.name = name
        self.logger = logger ?? Logger(label: name)
        self.registry = registry
        self.readiness = ReadinessProbe()
        self.httpMetrics = HTTPMetrics(registry: registry)
    }

    /// Makes the process log JSON lines for `service` at `level` and above. Call once, from `main`.
    public static func bootstrapLogging(service: String, level: Logger.Level) {
        LoggingSystem.bootstrap { _ in JSONLogHandler(service: service, level: level) }
    }

    /// A router with request ids and access logs, metrics, problem+json errors and 405 for a known path asked with
    /// another method (outermost first), plus `/healthz`, `/readyz` and, unless `metrics` is false (a separate metrics
    /// listener serves it), `/metrics`.
    public func makeRouter<Context: RequestContext>(
        context: Context.Type = Context.self,
        corsOrigins: [String] = [],
        metrics: Bool = true
    ) -> ServiceRouter<Context> {
        let router = ServiceRouter(router: Router(context: Context.self))
        if !corsOrigins.isEmpty { router.add(middleware: CORSAllowListMiddleware(origins: corsOrigins)) }
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: HTTPMetricsMiddleware(metrics: httpMetrics))
        router.add(middleware: ProblemMiddleware(metrics: httpMetrics))
        router.add(middleware: MethodNotAllowedMiddleware(table: router.table))
        OperationalRoutes(registry: registry, readiness: readiness).addRoutes(to: router, metrics: metrics)
        return router
    }
}
