import AuthStackHTTP
import AuthStackStorage
import Foundation
import Hummingbird
import KeyServer
import Synchronization

/// Secrets and a database in a temporary directory, and a clock the test moves.
package struct KeyServiceFixture {
    package var configuration: KeyServiceConfiguration
    package let secrets: SecretsDirectory
    package let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))

    package init() throws {
        let directory = NSTemporaryDirectory() + "key-service-\(UUID().uuidString)"
        secrets = SecretsDirectory(path: directory + "/keys")
        try secrets.initialize(force: false)
        var configuration = KeyServiceConfiguration()
        configuration.database.path = directory + "/data/keys.sqlite"
        configuration.secretsDirectory = secrets.path
        configuration.checkInterval = 3_600
        self.configuration = configuration
    }

    package func token(_ client: String) throws -> String { try secrets.read("\(client).token") }

    package func application(port: Int = 0) async throws -> some ApplicationProtocol {
        let clock = self.clock
        return try await buildKeyApplication(
            settings: ServiceSettings(host: "127.0.0.1", port: port),
            configuration: configuration,
            runtime: ServiceRuntime(name: "keys"),
            clock: { clock.now }
        )
    }
}

/// A settable clock.
package final class TestClock: Sendable {
    private let value: Mutex<Date>
    package init(_ start: Date) { value = Mutex(start) }
    package var now: Date { value.withLock { $0 } }
    package func advance(_ seconds: Double) { value.withLock { $0 = $0.addingTimeInterval(seconds) } }
}
