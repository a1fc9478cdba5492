import AuthStackTestSupport
import Foundation

@testable import KeyServer

extension TestDatabase {
    /// A key-service configuration that selects this database.
    var keyConfiguration: KeyServiceConfiguration {
        var configuration = KeyServiceConfiguration()
        configuration.database = settings(file: "keys.sqlite")
        return configuration
    }

    /// Opens a key store on this database, as the key service does.
    func keyStore() async throws -> any KeyStore {
        adopt(try await keyConfiguration.openStore(logger: Self.logger))
    }

    /// A key manager on a store of its own: one key-service replica.
    func keyReplica(sealer: KeySealer, policy: KeyLifecyclePolicy, clock: @escaping @Sendable () -> Date) async throws -> KeyManager {
        try await KeyManager.start(store: try await keyStore(), sealer: sealer, policy: policy, clock: clock)
    }
}
