import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import Foundation
import Hummingbird

/// Builds the key-service application: opens the database (migrating it), decrypts the keys with the master key
/// (a wrong one stops start-up with a clear error), and serves the internal API of docs/design.md §5 plus the operational
/// endpoints; a scheduler service rotates keys on time.
public func buildKeyApplication(
    settings: ServiceSettings,
    configuration: KeyServiceConfiguration,
    runtime: ServiceRuntime,
    clock: @escaping @Sendable () -> Date = { Date() }
) async throws -> some ApplicationProtocol {
    let secrets = SecretsDirectory(path: configuration.secretsDirectory)
    let sealer = try KeySealer(masterKeyFile: try secrets.read("master.key"))
    let seeds = try secrets.clientSeeds()
    let storage = try await configuration.openStore(logger: runtime.logger)
    let store = storage.store
    let manager = try await KeyManager.start(
        store: store,
        sealer: sealer,
        policy: KeyLifecyclePolicy(configuration: configuration.lifecycle),
        algorithm: configuration.algorithm,
        clock: clock
    )
    let clients = try await ClientManager.start(store: store, seeds: seeds, clock: clock, logger: runtime.logger)
    guard clients.directory.hasActiveClients else { throw NoClientsError(secretsDirectory: secrets.path) }
    runtime.readiness.add("database") { (try? await store.version()) != nil }
    let router = runtime.makeRouter(context: BasicRequestContext.self, metrics: settings.metrics == nil)
    KeyServiceRoutes(manager: manager, clients: clients).addRoutes(to: router)
    let scheduler = KeyRotationScheduler(manager: manager, checkInterval: .seconds(configuration.checkInterval), logger: runtime.logger)
    let reporter = KeyringMetricsReporter(publication: manager.publication, registry: runtime.registry, clock: clock)
    return runtime.makeApplication(
        router: router,
        settings: settings,
        serverName: "key-service",
        services: storage.services(manager: manager, clients: clients, logger: runtime.logger) + [scheduler, reporter]
    )
}

/// The key service would start with nobody able to call it: no client stored and no token file to add one from.
struct NoClientsError: Error, CustomStringConvertible {
    let secretsDirectory: String
    var description: String {
        "no key-service clients: \(secretsDirectory) has no identity.token, notes.token or admin.token and the database holds no "
            + "active client (run `authctl init`)"
    }
}
