import AuthStackCore
import Hummingbird
import Prometheus
import Synchronization

/// Request counts and latency histograms by route, method and status (docs/design.md §9), in a Prometheus registry.
///
/// The registry is passed in rather than bootstrapped globally, so every test application has its own metrics. The
/// collectors of each (route, method, status) are looked up in the registry once and kept: the registry's lookup
/// builds and hashes the label set under its lock on every call.
public final class HTTPMetrics: Sendable {
    /// Latency buckets from 100 µs to 10 s: the notes hot path lives in the lowest ones, password hashing in the middle.
    static var buckets: [Duration] {
        [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
    }

    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(metricName: "http_requests", unitName: "total", helpText: "HTTP requests by route, method and status")
    }
    static var duration: MetricNameDescriptor {
        MetricNameDescriptor(metricName: "http_request_duration", unitName: "seconds", helpText: "HTTP request latency by route and method")
    }

    static var inline: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "http_inline_responses",
            unitName: "total",
            helpText: "Requests answered on the event loop without reaching the router (also counted in http_requests_total)"
        )
    }

    private struct Key: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: Int
    }

    private let registry: PrometheusCollectorRegistry
    private let collectors = Mutex<[Key: (requests: Counter, duration: DurationHistogram)]>([:])
    private let inlineCounters = Mutex<[String: Counter]>([:])

    /// Records into `registry`.
    public init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    /// Counts one request refused with 503 because the database could not serve it (`storage_unavailable_total`, by
    /// `cause`: `unreachable`, `too_many_connections`, `disk_full`; docs/design.md §7).
    public func recordStorageRefusal(_ cause: StorageUnavailable.Cause) {
        registry.counter(
            "storage_unavailable",
            help: "Requests answered 503 because the database could not serve them, by cause",
            labels: [("cause", cause.rawValue)]
        ).increment()
    }

    /// Counts one request and records its latency.
    public func record(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status, duration: Duration) {
        let key = Key(route: route, method: method, status: status.code)
        let found = collectors.withLock { $0[key] }
        let (requests, histogram) = found ?? makeCollectors(key)
        requests.increment()
        histogram.record(duration)
    }

    /// Counts one request of `route` answered inline (``InlineResponder``), besides ``record(route:method:status:duration:)``.
    public func recordInline(route: String) {
        let counter = inlineCounters.withLock { counters in
            if let counter = counters[route] { return counter }
            let counter = registry.makeCounter(descriptor: Self.inline, labels: [("route", route)])
            counters[route] = counter
            return counter
        }
        counter.increment()
    }

    private func makeCollectors(_ key: Key) -> (requests: Counter, duration: DurationHistogram) {
        let made = (
            requests: registry.makeCounter(
                descriptor: Self.requests,
                labels: [("route", key.route), ("method", key.method.rawValue), ("status", String(key.status))]
            ),
            duration: registry.makeDurationHistogram(
                descriptor: Self.duration,
                labels: [("route", key.route), ("method", key.method.rawValue)],
                buckets: Self.buckets
            )
        )
        collectors.withLock { $0[key] = made }
        return made
    }
}

/// Records every request the router answers in ``HTTPMetrics``.
public struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private let metrics: HTTPMetrics

    /// Records into `metrics`.
    public init(metrics: HTTPMetrics) { self.metrics = metrics }

    /// Times the rest of the chain (which must not throw: ``ProblemMiddleware`` sits inside this one).
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        metrics.record(
            route: context.endpointPath ?? "unmatched",
            method: request.method,
            status: response.status,
            duration: ContinuousClock.now - start
        )
        return response
    }
}
