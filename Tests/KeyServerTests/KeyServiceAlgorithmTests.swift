import AuthStackCore
import AuthStackHTTP
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import KeyServer

/// `KEYS_ALGORITHM` (issue 19, item 4): EdDSA private keys go to signers alone, and switching a running stack from
/// HS256 to EdDSA and back rejects no valid token.
@Suite struct KeyServiceAlgorithmTests {
    private func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    /// The keyring `client` receives, as its JSON and as a keyring.
    private func keyring(
        _ client: some TestClientProtocol,
        as name: String,
        fixture: KeyServiceFixture
    ) async throws
        -> (json: [[String: Any]], keyring: Keyring)
    {
        try await client.execute(uri: "/v1/keyring", method: .get, headers: bearer(try fixture.token(name))) { response in
            #expect(response.status == .ok)
            let bytes = Array(response.body.readableBytesView)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
            return (try #require(object["keys"] as? [[String: Any]]), try Keyring(jwkSetJSON: bytes))
        }
    }

    private func token(signedWith keyring: Keyring, at now: Date) throws -> String {
        let signer = AccessTokenSigner()
        return signer.sign(signer.claims(subject: "u_1", username: "ada", sessionID: "s_1", now: now), with: try #require(keyring.signingKey))
    }

    private func rotate(_ client: some TestClientProtocol, fixture: KeyServiceFixture) async throws {
        try await client.execute(uri: "/v1/keys/rotate?force=true", method: .post, headers: bearer(try fixture.token("admin"))) {
            #expect($0.status == .ok)
        }
    }

    @Test func keysAlgorithmIsHS256UnlessSetAndAnythingElseIsOneLineNamingIt() throws {
        #expect(try KeyServiceConfiguration(environment: [:]).algorithm == .hs256)
        #expect(try KeyServiceConfiguration(environment: ["KEYS_ALGORITHM": "EdDSA"]).algorithm == .edDSA)
        #expect(try KeyServiceConfiguration(environment: ["KEYS_ALGORITHM": "eddsa"]).algorithm == .edDSA)
        #expect(try KeyServiceConfiguration(environment: ["KEYS_ALGORITHM": "HS256"]).algorithm == .hs256)
        for value in ["RS256", "none", "", "Ed25519"] {
            #expect(throws: InvalidSetting(variable: "KEYS_ALGORITHM", reason: "expected HS256 or EdDSA")) {
                _ = try KeyServiceConfiguration(environment: ["KEYS_ALGORITHM": value])
            }
        }
    }

    @Test func verifiersReceiveOnlyTheEdDSAPublicKeyAndTheSignerItsPrivateKey() async throws {
        var configured = try KeyServiceFixture()
        configured.configuration.algorithm = .edDSA
        let fixture = configured
        let now = fixture.clock.now
        try await fixture.application().test(.router) { client in
            let signer = try await keyring(client, as: "identity", fixture: fixture)
            #expect(signer.json.count == 2)
            for jwk in signer.json {
                #expect(jwk["kty"] as? String == "OKP")
                #expect(jwk["crv"] as? String == "Ed25519")
                #expect(jwk["alg"] as? String == "EdDSA")
                #expect(jwk["d"] is String)
                #expect(jwk["k"] == nil)
            }
            let token = try token(signedWith: signer.keyring, at: now)
            let verifier = AccessTokenVerifier(policy: TokenVerificationPolicy(audience: "notes"))
            for name in ["notes", "admin"] {
                let verifying = try await keyring(client, as: name, fixture: fixture)
                #expect(verifying.json.count == 2)
                #expect(verifying.json.allSatisfy { $0["d"] == nil && $0["x"] is String && $0["kty"] as? String == "OKP" })
                #expect(verifying.keyring.signingKey == nil, "a verifier's keyring cannot sign")
                #expect(try verifier.verify(token, keys: verifying.keyring.verificationKeys, now: now).subject == "u_1")
            }
            try await client.execute(uri: "/v1/keys", method: .get, headers: bearer(try fixture.token("admin"))) { response in
                let listing = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
                let keys = try #require(listing["keys"] as? [[String: Any]])
                #expect(keys.map { $0["alg"] as? String } == ["EdDSA", "EdDSA"])
            }
        }
    }

    @Test func switchingFromHS256ToEdDSAAndBackRejectsNoValidToken() async throws {
        var fixture = try KeyServiceFixture()
        // HS256 from the start; then the setting changes, and each rotation makes the next key with it.
        var tokens = try await run(fixture, rotations: 0, after: [])
        for algorithm in [KeyAlgorithm.edDSA, .hs256] {
            fixture.configuration.algorithm = algorithm
            tokens += try await run(fixture, rotations: 2, after: tokens)
        }
        // HS256 (the first key), HS256 (the next published before the switch), EdDSA twice, then HS256 again.
        #expect(tokens.map(\.algorithm) == [.hs256, .hs256, .edDSA, .edDSA, .hs256])
    }

    /// A token as identity signs it, and the algorithm of the key that signed it.
    private struct SignedToken: Sendable {
        let token: String
        let algorithm: KeyAlgorithm
    }

    /// Starts the key service as `fixture` configures it; signs a token with identity's keyring at start (when
    /// `rotations` is 0) or after each rotation, and checks each time that notes' keyring verifies every token so far.
    private func run(_ fixture: KeyServiceFixture, rotations: Int, after earlier: [SignedToken]) async throws -> [SignedToken] {
        let now = fixture.clock.now
        let verifier = AccessTokenVerifier(policy: TokenVerificationPolicy(audience: "notes"))
        return try await fixture.application().test(.router) { client in
            var tokens = earlier
            for _ in 0..<max(rotations, 1) {
                if rotations > 0 { try await rotate(client, fixture: fixture) }
                let signer = try await keyring(client, as: "identity", fixture: fixture).keyring
                tokens.append(SignedToken(token: try token(signedWith: signer, at: now), algorithm: signer.currentKey.algorithm))
                let notes = try await keyring(client, as: "notes", fixture: fixture).keyring
                for signed in tokens {
                    let claims = try verifier.verify(signed.token, keys: notes.verificationKeys, now: now)
                    #expect(claims.subject == "u_1", "a \(signed.algorithm) token")
                }
            }
            return Array(tokens.dropFirst(earlier.count))
        }
    }
}
