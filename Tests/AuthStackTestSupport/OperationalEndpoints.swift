import Hummingbird
import HummingbirdTesting
import Testing

/// Checks that `app` answers `/healthz`, `/readyz` and `/metrics` with 200 over real HTTP: what every service's
/// application must serve (docs/design.md §5, "Every service").
package func expectOperationalEndpoints(_ app: some ApplicationProtocol) async throws {
    try await app.test(.live) { client in
        try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
        try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
        try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .ok) }
    }
}
