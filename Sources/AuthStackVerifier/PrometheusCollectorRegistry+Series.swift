import Prometheus

extension PrometheusCollectorRegistry {
    /// The counter `name_unit` (unit `total` by default) with `help`, for these label values; the registry returns the
    /// same counter for the same name and labels.
    public func counter(_ name: String, unit: String = "total", help: String, labels: [(String, String)] = []) -> Counter {
        makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: unit, helpText: help), labels: labels)
    }

    /// The gauge `name_unit` (`name` alone without a unit) with `help`.
    public func gauge(_ name: String, unit: String = "", help: String) -> Gauge {
        makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: unit, helpText: help))
    }
}
