import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// Builds the identity service: its database, password hashing pool, keyring follower and routes.
public func buildIdentityApplication(
    settings: ServiceSettings,
    configuration: IdentityConfiguration,
    runtime: ServiceRuntime,
    clock: @escaping @Sendable () -> Date = { Date() }
) async throws -> some ApplicationProtocol {
    let follower = try KeyringFollower(configuration: configuration.keys, registry: runtime.registry, logger: runtime.logger)
    return try await buildIdentityApplication(
        settings: settings,
        configuration: configuration,
        runtime: runtime,
        keyring: follower,
        services: [follower],
        clock: clock
    )
}

/// Builds the identity service around any keyring source (tests use a fixed one).
func buildIdentityApplication<Source: KeyringSource>(
    settings: ServiceSettings,
    configuration: IdentityConfiguration,
    runtime: ServiceRuntime,
    keyring: Source,
    services: [any Service] = [],
    passwords: PasswordHashingPool? = nil,
    clock: @escaping @Sendable () -> Date = { Date() }
) async throws -> some ApplicationProtocol {
    let storage = try await configuration.openStore(logger: runtime.logger)
    let store = storage.store
    let passwords =
        try passwords
        ?? PasswordHashingPool(
            hasher: try PasswordHasher(parameters: configuration.scrypt),
            maximumConcurrent: configuration.hashConcurrency,
            maximumQueued: configuration.hashQueue
        )
    runtime.readiness.add("database") { await store.isReachable() }
    runtime.readiness.add("keyring") { keyring.current() != nil }
    let router = runtime.makeRouter(context: IdentityRequestContext.self, corsOrigins: settings.corsOrigins, metrics: settings.metrics == nil)
    IdentityRoutes(
        configuration: configuration,
        store: store,
        passwords: passwords,
        keyring: keyring,
        registry: runtime.registry,
        corsOrigins: settings.corsOrigins,
        clock: clock
    )
    .addRoutes(to: router)
    let maintenance = IdentityMaintenance(store: store, configuration: configuration, clock: clock, logger: runtime.logger)
    return runtime.makeApplication(
        router: router,
        settings: settings,
        serverName: "identity-service",
        unixSocket: configuration.proxySocket.map { (path: $0, setting: "PROXY_SOCKET") },
        services: storage.services + services + [maintenance]
    )
}

/// Deletes sessions that ended more than a day ago (with their refresh tokens) and spent throttle counters, every
/// ten minutes.
struct IdentityMaintenance: Service {
    let store: any IdentityStore
    let configuration: IdentityConfiguration
    let clock: @Sendable () -> Date
    let logger: Logger

    func run() async throws {
        let longestWindow = max(configuration.throttle.loginAddressWindow, 60)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let removed = try await store.prune(
                    now: clock(),
                    retention: 86_400,
                    longestWindow: longestWindow,
                    accountMemory: configuration.throttle.accountMemory
                )
                if removed > 0 { logger.info("pruned ended sessions and spent throttle counters", metadata: ["rows": "\(removed)"]) }
            } catch {
                logger.error("identity maintenance failed", metadata: ["error_type": "\(type(of: error))"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(600)) }
            } catch {
                return
            }
        }
    }
}
