import AuthStackCore
import AuthStackHTTP
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@testable import KeyServer

/// The key service's internal API (docs/design.md §5), its authentication and roles.
@Suite struct KeyServiceRoutesTests {
    private func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    private func json(_ response: TestResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as! [String: Any]
    }

    @Test func keyringNeedsAValidClientToken() async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            try await client.execute(uri: "/v1/keyring", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="keys""#)
                let body = try json(response)
                #expect(body["code"] as? String == "unauthorized")
            }
            try await client.execute(uri: "/v1/keyring", method: .get, headers: bearer("ast_wrong")) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }

    @Test func verifierAndSignerReadTheKeyringWithAnETag() async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            for name in ["notes", "identity", "admin"] {
                try await client.execute(uri: "/v1/keyring", method: .get, headers: bearer(try fixture.token(name))) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.eTag] == "\"v1\"")
                    #expect(response.headers[.cacheControl] == "no-store")
                    let keyring = try Keyring(jwkSetJSON: Array(response.body.readableBytesView))
                    #expect(keyring.nextKey != nil)
                    #expect(keyring.keys.count == 2)
                }
            }
        }
    }

    @Test func adminEndpointsRefuseOtherRolesBeforeLookingAtTheKid() async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            let notes = bearer(try fixture.token("notes"))
            try await client.execute(uri: "/v1/keys", method: .get, headers: notes) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/v1/keys/rotate", method: .post, headers: notes) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/v1/keys/no-such-kid/revoke", method: .post, headers: bearer(try fixture.token("identity"))) {
                #expect($0.status == .forbidden)
                let body = try json($0)
                #expect(body["code"] as? String == "forbidden")
            }
        }
    }

    @Test func ifNoneMatchWithoutWaitIs304() async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            var headers = bearer(try fixture.token("notes"))
            headers[.ifNoneMatch] = "\"v1\""
            try await client.execute(uri: "/v1/keyring", method: .get, headers: headers) { #expect($0.status == .notModified) }
            try await client.execute(uri: "/v1/keyring?wait=1", method: .get, headers: headers) { #expect($0.status == .notModified) }
        }
    }

    @Test(arguments: ["-1", "61", "soon", "1.5"])
    func invalidWaitIsAnInvalidRequest(wait: String) async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            try await client.execute(uri: "/v1/keyring?wait=\(wait)", method: .get, headers: bearer(try fixture.token("notes"))) { response in
                #expect(response.status == .badRequest)
                let body = try json(response)
                #expect(body["code"] as? String == "invalid_request")
            }
        }
    }

    @Test func longPollAnswersAsSoonAsTheKeyringChanges() async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.live) { client in
            var headers = bearer(try fixture.token("notes"))
            headers[.ifNoneMatch] = "\"v1\""
            let admin = bearer(try fixture.token("admin"))
            async let polled = client.execute(uri: "/v1/keyring?wait=15", method: .get, headers: headers)
            try await Task.sleep(for: .milliseconds(200))
            // A second connection: the first one is busy with the long poll.
            let rotated = try await TestClient.withClient(host: "127.0.0.1", port: client.port!) { second in
                try await second.execute(TestClient.Request("/v1/keys/rotate?force=true", method: .post, headers: admin))
            }
            #expect(rotated.status == .ok)
            let response = try await polled
            // A poll that ran out its wait answers 304 whatever happened meanwhile; 200 with v2 means it woke on the change.
            #expect(response.status == .ok)
            #expect(response.headers[.eTag] == "\"v2\"")
        }
    }

    @Test func rotationTooSoonIs409WithRetryAfterAndForceRotates() async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            let admin = bearer(try fixture.token("admin"))
            fixture.clock.advance(20)
            try await client.execute(uri: "/v1/keys/rotate", method: .post, headers: admin) { response in
                #expect(response.status == .conflict)
                #expect(response.headers[.retryAfter] == "100")
                let body = try json(response)
                #expect(body["code"] as? String == "rotation_too_soon")
            }
            fixture.clock.advance(100)
            try await client.execute(uri: "/v1/keys/rotate", method: .post, headers: admin) { response in
                #expect(response.status == .ok)
                let body = try json(response)
                #expect(body["version"] as? Int == 2)
                let statuses = (body["keys"] as! [[String: Any]]).compactMap { $0["status"] as? String }
                #expect(statuses.sorted() == ["current", "next", "previous"])
            }
        }
    }

    @Test func revocationRemovesTheKidAndIsIdempotent() async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            let admin = bearer(try fixture.token("admin"))
            var current = ""
            try await client.execute(uri: "/v1/keyring", method: .get, headers: admin) { response in
                current = try Keyring(jwkSetJSON: Array(response.body.readableBytesView)).currentKey.kid
            }
            try await client.execute(uri: "/v1/keys/\(current)/revoke", method: .post, headers: admin) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/keyring", method: .get, headers: admin) { response in
                let keyring = try Keyring(jwkSetJSON: Array(response.body.readableBytesView))
                #expect(!keyring.keys.contains { $0.kid == current })
                #expect(keyring.version == 2)
            }
            try await client.execute(uri: "/v1/keys/\(current)/revoke", method: .post, headers: admin) { response in
                #expect(response.status == .ok)
                let body = try json(response)
                #expect(body["version"] as? Int == 2, "revoking twice changes nothing")
            }
            try await client.execute(uri: "/v1/keys/nope/revoke", method: .post, headers: admin) { response in
                #expect(response.status == .notFound)
                let body = try json(response)
                #expect(body["code"] as? String == "key_not_found")
            }
        }
    }

    @Test func adminListingShowsMetadataButNoSecret() async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            let admin = bearer(try fixture.token("admin"))
            var secrets: [String] = []
            try await client.execute(uri: "/v1/keyring", method: .get, headers: admin) { response in
                secrets = try Keyring(jwkSetJSON: Array(response.body.readableBytesView)).keys.map { Base64URL.encode($0.secret.bytes) }
            }
            try await client.execute(uri: "/v1/keys", method: .get, headers: admin) { response in
                let text = String(buffer: response.body)
                #expect(secrets.allSatisfy { !text.contains($0) })
                let listing = try json(response)
                let key = (listing["keys"] as! [[String: Any]])[0]
                #expect(Set(key.keys) == ["kid", "alg", "status", "created_at", "activated_at", "retire_at", "revoked_at"])
            }
        }
    }

    @Test func wrongMasterKeyStopsStartUp() async throws {
        let fixture = try KeyServiceFixture()
        _ = try await fixture.application()
        try Base64URL.encode(SecretBytes.random(count: 32).bytes).write(
            toFile: fixture.secrets.path + "/master.key",
            atomically: true,
            encoding: .utf8
        )
        await #expect(throws: UnreadableKeyError.self) { _ = try await fixture.application() }
    }
}
