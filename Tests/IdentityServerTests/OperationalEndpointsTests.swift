import AuthStackHTTP
import AuthStackTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IdentityServer

/// The identity service's application serves the operational endpoints, over real HTTP.
@Suite struct OperationalEndpointsTests {
    @Test func identityServiceServesOperationalEndpoints() async throws {
        try await expectOperationalEndpoints(try await IdentityFixture().application())
    }
}
