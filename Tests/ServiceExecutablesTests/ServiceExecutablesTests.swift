import AuthStackService
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IdentityServer
@testable import KeyService
@testable import NotesService

/// Each service executable builds an application that serves the operational endpoints, over real HTTP.
@Suite struct ServiceExecutablesTests {
    private func expectOperational(_ app: some ApplicationProtocol) async throws {
        try await app.test(.live) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .ok) }
        }
    }

    private var settings: ServiceSettings { ServiceSettings(host: "127.0.0.1", port: 0) }

    @Test func identityServiceServesOperationalEndpoints() async throws {
        try await expectOperational(try await IdentityFixture().application())
    }

    @Test func notesServiceServesOperationalEndpoints() async throws {
        try await expectOperational(NotesFixture().application())
    }

    @Test func keyServiceServesOperationalEndpoints() async throws {
        let fixture = try KeyServiceFixture()
        try await expectOperational(
            buildKeyApplication(settings: settings, configuration: fixture.configuration, runtime: ServiceRuntime(name: "keys")))
    }
}
