import Prometheus

/// The identity service's own Prometheus series (docs/design.md §9: logins by outcome, refresh reuse detections).
struct IdentityMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let signups: Counter

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        signups = registry.makeCounter(descriptor: MetricNameDescriptor(metricName: "identity_signups", unitName: "total", helpText: "Users created"))
    }

    func login(_ outcome: String) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "identity_logins",
                unitName: "total",
                helpText: "Login attempts by outcome: success, failure, throttled, overloaded"
            ),
            labels: [("outcome", outcome)]
        ).increment()
    }

    func refreshes(_ outcome: String) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "identity_refreshes",
                unitName: "total",
                helpText: "Refreshes by outcome: rotated, replayed (grace-window retry), reused (session revoked), invalid"
            ),
            labels: [("outcome", outcome)]
        ).increment()
    }
}
