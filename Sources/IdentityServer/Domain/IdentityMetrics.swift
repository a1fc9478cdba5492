import AuthStackHTTP
import Prometheus

/// The identity service's own Prometheus series (docs/design.md §9: logins by outcome, refresh reuse detections).
struct IdentityMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let signups: Counter

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        signups = registry.counter("identity_signups", help: "Users created")
    }

    func login(_ outcome: String) {
        registry.counter(
            "identity_logins",
            help: "Login attempts by outcome: success, failure, throttled, overloaded",
            labels: [("outcome", outcome)]
        ).increment()
    }

    func refreshes(_ outcome: String) {
        registry.counter(
            "identity_refreshes",
            help: "Refreshes by outcome: rotated, replayed (grace-window retry), reused (session revoked), invalid",
            labels: [("outcome", outcome)]
        ).increment()
    }
}
