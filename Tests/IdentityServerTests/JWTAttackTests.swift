import AuthStackCore
import AuthStackHTTP
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IdentityServer

/// Every forged token of ``JWTAttacks`` gets 401 `invalid_token` at `GET /me`; a real user's token passes.
@Suite struct JWTAttackTests {
    func identityApplication() async throws -> some ApplicationProtocol {
        let fixture = try IdentityFixture()
        let clock = fixture.clock
        return try await buildIdentityApplication(
            settings: ServiceSettings(host: "127.0.0.1", port: 0),
            configuration: fixture.configuration,
            runtime: ServiceRuntime(name: "identity"),
            keyring: FixedKeyringSource(JWTAttacks.keyring),
            passwords: fixture.passwords,
            clock: { clock.now }
        )
    }

    @Test func identityRejectsEveryAttack() async throws {
        try await identityApplication().test(.router) { client in
            // The control token names a user that does not exist: 401 too, but only after the token passed.
            for (name, token) in JWTAttacks.attacks {
                try await client.execute(uri: "/me", method: .get, headers: [.authorization: "Bearer \(token)"]) { response throws in
                    #expect(response.status == .unauthorized, "\(name)")
                    #expect(try IdentityJSON.object(response)["code"] as? String == "invalid_token", "\(name)")
                }
            }
            // A real user with a real token passes, so the rejections above are the verifier's doing.
            let tokens = try await client.signup("real-user")
            try await client.execute(uri: "/me", method: .get, headers: tokens.bearer) { #expect($0.status == .ok) }
        }
    }
}
