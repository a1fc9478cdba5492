import AuthStackHTTP
import AuthStackTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

@testable import NotesServer

/// The notes service's application serves the operational endpoints, over real HTTP.
@Suite struct OperationalEndpointsTests {
    @Test func notesServiceServesOperationalEndpoints() async throws {
        try await expectOperationalEndpoints(NotesFixture().application())
    }
}
