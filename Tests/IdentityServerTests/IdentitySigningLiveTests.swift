import AsyncHTTPClient
import AuthStackCore
import AuthStackHTTP
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTesting
import KeyServer
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

@testable import IdentityServer

/// Identity with its real keyring follower and a real key service (docs/design.md §9): it is not ready before its first
/// keyring, and after a rotation it signs with the new `current` key within the propagation bound.
@Suite struct IdentitySigningLiveTests {
    @Test func identitySignsWithTheNewCurrentKeyAfterARotation() async throws {
        let keysFixture = try KeyServiceFixture()
        let port = try await freePortForTest()
        var identity = try IdentityFixture()
        identity.configuration.keys = KeyringFollowerConfiguration(
            keyServiceURL: "http://127.0.0.1:\(port)",
            tokenFile: keysFixture.secrets.path + "/identity.token"
        )
        let configuration = identity.configuration
        let app = try await buildIdentityApplication(
            settings: ServiceSettings(host: "127.0.0.1", port: 0),
            configuration: configuration,
            runtime: ServiceRuntime(name: "identity")
        )
        try await app.test(.live) { client in
            // No key service yet: not ready, and signup is refused before any write.
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .serviceUnavailable) }
            let keys = try await RunningKeyService.start(keysFixture, port: port)
            var ready = false
            for _ in 0..<200 where !ready {
                ready = try await client.execute(uri: "/readyz", method: .get) { $0.status == .ok }
                if !ready { try await Task.sleep(for: .milliseconds(25)) }
            }
            #expect(ready, "identity became ready once the key service answered")
            let first = try await client.signup("signer")
            let before = try Self.kid(of: first.accessToken)

            let rotated =
                try JSONSerialization.jsonObject(
                    with: try await keys.request("/v1/keys/rotate?force=true", method: .POST, token: try keysFixture.token("admin")).body
                ) as? [String: Any]
            let newKid = try #require(rotated?["current_kid"] as? String)
            #expect(newKid != before)
            let start = ContinuousClock.now
            var kid = before
            while kid != newKid && ContinuousClock.now - start < .seconds(2) {
                kid = try Self.kid(of: try IssuedTokens(try await client.login("signer")).accessToken)
            }
            #expect(kid == newKid, "identity did not sign with the new key within 2 s")
            print("propagation: identity signed with the new current key \(ContinuousClock.now - start) after the rotation answer")
            await keys.stop()
        }
    }

    static func kid(of token: String) throws -> String {
        let header = try #require(Base64URL.decode(token.prefix { $0 != "." }))
        let object = try JSONSerialization.jsonObject(with: Data(header)) as? [String: Any]
        return try #require(object?["kid"] as? String)
    }
}
