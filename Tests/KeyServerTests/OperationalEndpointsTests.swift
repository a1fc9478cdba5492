import AuthStackHTTP
import AuthStackTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

@testable import KeyServer

/// The key service's application serves the operational endpoints, over real HTTP.
@Suite struct OperationalEndpointsTests {
    @Test func keyServiceServesOperationalEndpoints() async throws {
        let fixture = try KeyServiceFixture()
        try await expectOperationalEndpoints(
            buildKeyApplication(
                settings: ServiceSettings(host: "127.0.0.1", port: 0),
                configuration: fixture.configuration,
                runtime: ServiceRuntime(name: "keys")
            )
        )
    }
}
