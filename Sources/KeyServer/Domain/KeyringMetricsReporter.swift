import AuthStackCore
import AuthStackHTTP
import Foundation
import Prometheus
import ServiceLifecycle

/// Exports the served keyring's version and the age of its `current` key (docs/design.md §9), refreshed
/// once a second and at once when the keyring changes. An age far above the rotation interval means
/// scheduled rotation has stalled.
struct KeyringMetricsReporter: Service {
    let publication: KeyringPublication
    let registry: PrometheusCollectorRegistry
    let clock: @Sendable () -> Date

    func run() async throws {
        let version = registry.gauge("keyring_version", help: "Version of the keyring the key service serves")
        let age = registry.gauge("keyring_current_key_age", unit: "seconds", help: "Seconds since the current signing key was promoted")
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let keyring = await publication.current
            version.set(Int64(keyring.version))
            if let activatedAt = keyring.currentKeyActivatedAt {
                age.set(clock().timeIntervalSince(activatedAt))
            }
            _ = await cancelWhenGracefulShutdown {
                await publication.waitForChange(from: keyring.etag, timeout: .seconds(1))
            }
        }
    }
}
