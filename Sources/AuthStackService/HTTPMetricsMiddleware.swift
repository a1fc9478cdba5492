import Hummingbird
import Prometheus

/// Records request counts and latency histograms by route, method and status (DESIGN.md §9) in a Prometheus registry.
///
/// The registry is passed in rather than bootstrapped globally, so every test application has its own metrics.
public struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Latency buckets from 100 µs to 10 s: the notes hot path lives in the lowest ones, password hashing in the middle.
    static var buckets: [Duration] {
        [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
         .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
         .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)]
    }

    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(metricName: "http_requests", unitName: "total", helpText: "HTTP requests by route, method and status")
    }
    static var duration: MetricNameDescriptor {
        MetricNameDescriptor(metricName: "http_request_duration", unitName: "seconds", helpText: "HTTP request latency by route and method")
    }

    private let registry: PrometheusCollectorRegistry

    /// Records into `registry`.
    public init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    /// Times the rest of the chain (which must not throw: ``ProblemMiddleware`` sits inside this one).
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let route = context.endpointPath ?? "unmatched"
        let method = request.method.rawValue
        registry.makeCounter(descriptor: Self.requests, labels: [("route", route), ("method", method), ("status", String(response.status.code))])
            .increment()
        registry.makeDurationHistogram(descriptor: Self.duration, labels: [("route", route), ("method", method)], buckets: Self.buckets)
            .record(ContinuousClock.now - start)
        return response
    }
}
