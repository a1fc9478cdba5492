import AuthStackCore
import AuthStackHTTP
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import KeyServer

/// The key service's clients as data through its admin API (docs/design.md §5.4): added, listed, rotated and revoked
/// by an admin; a revoked token is refused at once, its open long-polls included.
@Suite(.timeLimit(.minutes(2))) struct KeyServiceClientsRoutesTests {
    private func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    private func jsonHeaders(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)", .contentType: "application/json"] }

    private func json(_ response: TestResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as! [String: Any]
    }

    private func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    /// Adds a client through the API and returns its token.
    private func add(_ name: String, _ role: String, admin: String, _ client: some TestClientProtocol) async throws -> String {
        try await client.execute(
            uri: "/v1/clients",
            method: .post,
            headers: jsonHeaders(admin),
            body: body(#"{"name":"\#(name)","role":"\#(role)"}"#)
        ) {
            response in
            #expect(response.status == .created)
            #expect(response.headers[.cacheControl] == "no-store")
            let answer = try json(response)
            let client = try #require(answer["client"] as? [String: Any])
            #expect(client["name"] as? String == name && client["role"] as? String == role && client["status"] as? String == "active")
            return try #require(answer["token"] as? String)
        }
    }

    @Test func theClientsAuthctlInitWroteAreListedWithoutTheirTokens() async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            try await client.execute(uri: "/v1/clients", method: .get, headers: bearer(try fixture.token("admin"))) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                for name in ["identity", "notes", "admin"] { #expect(!text.contains(try fixture.token(name)), "no token in the listing") }
                #expect(!text.contains("token_hash"))
                let clients = try #require(try json(response)["clients"] as? [[String: Any]])
                #expect(clients.map { $0["name"] as? String } == ["admin", "identity", "notes"])
                #expect(clients.map { $0["role"] as? String } == ["admin", "signer", "verifier"])
            }
            try await client.execute(uri: "/v1/clients", method: .get, headers: bearer(try fixture.token("notes"))) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(uri: "/v1/clients", method: .get) { #expect($0.status == .unauthorized) }
        }
    }

    /// The scheme is case-insensitive (RFC 7235 §2.1), as identity and notes already had it; the key service took
    /// only `Bearer`.
    @Test func theBearerSchemeIsCaseInsensitive() async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            for scheme in ["bearer", "BEARER", "Bearer"] {
                let headers: HTTPFields = [.authorization: "\(scheme) \(try fixture.token("notes"))"]
                try await client.execute(uri: "/v1/keyring", method: .get, headers: headers) { #expect($0.status == .ok, "\(scheme)") }
            }
            try await client.execute(uri: "/v1/keyring", method: .get, headers: [.authorization: "Basic \(try fixture.token("notes"))"]) {
                #expect($0.status == .unauthorized)
            }
        }
    }

    @Test func anAddedVerifierReadsTheKeyringAndNothingElse() async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            let admin = try fixture.token("admin")
            let token = try await add("billing", "verifier", admin: admin, client)
            #expect(token.hasPrefix("ast_") && token.count == 47)
            try await client.execute(uri: "/v1/keyring", method: .get, headers: bearer(token)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/keys/rotate", method: .post, headers: bearer(token)) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/v1/clients", method: .post, headers: jsonHeaders(token), body: body(#"{"name":"x","role":"admin"}"#)) {
                #expect($0.status == .forbidden)
            }
            // The name is taken while the client is active.
            try await client.execute(
                uri: "/v1/clients",
                method: .post,
                headers: jsonHeaders(admin),
                body: body(#"{"name":"billing","role":"signer"}"#)
            ) {
                #expect($0.status == .conflict)
                let code = try json($0)["code"] as? String
                #expect(code == "client_exists")
            }
            // A signer signs: identity-like services can be added too.
            let signer = try await add("minter", "signer", admin: admin, client)
            try await client.execute(uri: "/v1/keyring", method: .get, headers: bearer(signer)) { #expect($0.status == .ok) }
        }
    }

    @Test(arguments: [
        (#"{"name":"Billing","role":"verifier"}"#, "name"), (#"{"name":"billing","role":"root"}"#, "role"),
        (#"{"role":"verifier"}"#, "name"), (#"{"name":"billing"}"#, "role"), (#"{"name":7,"role":"verifier"}"#, "name"),
        (#"{"name":"billing","role":"verifier","name":"x"}"#, ""),
    ])
    func aBadClientIsA400NamingTheField(body text: String, field: String) async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            try await client.execute(uri: "/v1/clients", method: .post, headers: jsonHeaders(try fixture.token("admin")), body: body(text)) {
                response in
                #expect(response.status == .badRequest)
                let errors = try #require(try json(response)["errors"] as? [[String: Any]])
                #expect(errors.contains { $0["field"] as? String == field }, "\(errors)")
            }
            try await client.execute(uri: "/v1/clients", method: .get, headers: bearer(try fixture.token("admin"))) { response in
                let version = try json(response)["version"] as? Int
                #expect(version == 1, "nothing was written (version 1: the seeds)")
            }
        }
    }

    @Test func aRevokedClientIsRefusedAtOnceAndTheLastAdminStays() async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            let admin = try fixture.token("admin")
            let notes = try fixture.token("notes")
            try await client.execute(uri: "/v1/clients/notes", method: .delete, headers: bearer(admin)) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/v1/keyring", method: .get, headers: bearer(notes)) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/clients/notes", method: .delete, headers: bearer(admin)) {
                #expect($0.status == .notFound)
                let code = try json($0)["code"] as? String
                #expect(code == "client_not_found")
            }
            try await client.execute(uri: "/v1/clients/admin", method: .delete, headers: bearer(admin)) {
                #expect($0.status == .conflict)
                let code = try json($0)["code"] as? String
                #expect(code == "last_admin")
            }
            // Another admin first; then the old one can go, and its token with it.
            let ops = try await add("ops", "admin", admin: admin, client)
            try await client.execute(uri: "/v1/clients/admin", method: .delete, headers: bearer(ops)) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/v1/clients", method: .get, headers: bearer(admin)) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/clients", method: .get, headers: bearer(ops)) { response in
                let clients = try #require(try json(response)["clients"] as? [[String: Any]])
                #expect(clients.map { "\($0["name"]!):\($0["status"]!)" } == ["identity:active", "ops:active", "admin:revoked", "notes:revoked"])
            }
        }
    }

    @Test func aRotationKeepsTheOldTokenForItsOverlap() async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            let admin = try fixture.token("admin")
            let old = try await add("billing", "verifier", admin: admin, client)
            let new = try await client.execute(uri: "/v1/clients/billing/rotate?overlap=60", method: .post, headers: bearer(admin)) { response in
                #expect(response.status == .ok)
                let answer = try json(response)
                let summary = try #require(answer["client"] as? [String: Any])
                #expect(summary["previous_token_valid_until"] as? String != nil)
                return try #require(answer["token"] as? String)
            }
            #expect(new != old)
            try await client.execute(uri: "/v1/keyring", method: .get, headers: bearer(old)) { #expect($0.status == .ok, "inside the overlap") }
            try await client.execute(uri: "/v1/keyring", method: .get, headers: bearer(new)) { #expect($0.status == .ok) }
            fixture.clock.advance(60)
            try await client.execute(uri: "/v1/keyring", method: .get, headers: bearer(old)) { #expect($0.status == .unauthorized, "overlap over") }
            try await client.execute(uri: "/v1/keyring", method: .get, headers: bearer(new)) { #expect($0.status == .ok) }
            // overlap=0 ends the old token at once; a bad overlap is a 400; an unknown client a 404.
            let newest = try await client.execute(uri: "/v1/clients/billing/rotate?overlap=0", method: .post, headers: bearer(admin)) {
                try #require(try json($0)["token"] as? String)
            }
            try await client.execute(uri: "/v1/keyring", method: .get, headers: bearer(new)) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/keyring", method: .get, headers: bearer(newest)) { #expect($0.status == .ok) }
            for overlap in ["-1", "2592001", "soon"] {
                try await client.execute(uri: "/v1/clients/billing/rotate?overlap=\(overlap)", method: .post, headers: bearer(admin)) {
                    #expect($0.status == .badRequest)
                }
            }
            try await client.execute(uri: "/v1/clients/nobody/rotate", method: .post, headers: bearer(admin)) { #expect($0.status == .notFound) }
        }
    }

    @Test func aRevocationEndsTheClientsOpenLongPollWith401() async throws {
        let fixture = try KeyServiceFixture()
        try await fixture.application().test(.router) { client in
            let admin = try fixture.token("admin")
            let billing = try await add("billing", "verifier", admin: admin, client)
            let other = try await add("other", "verifier", admin: admin, client)
            let waiting: HTTPFields = [.authorization: "Bearer \(billing)", .ifNoneMatch: "\"v1\""]
            let otherWaiting: HTTPFields = [.authorization: "Bearer \(other)", .ifNoneMatch: "\"v1\""]
            let statuses = try await withThrowingTaskGroup(of: (String, HTTPResponse.Status).self) { group in
                group.addTask {
                    ("billing", try await client.execute(uri: "/v1/keyring?wait=50", method: .get, headers: waiting) { $0.status })
                }
                group.addTask {
                    ("other", try await client.execute(uri: "/v1/keyring?wait=3", method: .get, headers: otherWaiting) { $0.status })
                }
                group.addTask {
                    // Revoke once both long-polls are waiting on their tokens.
                    try await Task.sleep(for: .milliseconds(500))
                    return ("revoke", try await client.execute(uri: "/v1/clients/billing", method: .delete, headers: bearer(admin)) { $0.status })
                }
                return try await group.reduce(into: [String: HTTPResponse.Status]()) { $0[$1.0] = $1.1 }
            }
            #expect(statuses["revoke"] == .noContent)
            #expect(statuses["billing"] == .unauthorized, "the revoked client's long-poll ended with 401, not at its 50 s timeout")
            #expect(statuses["other"] == .notModified, "another client's long-poll went on to its own timeout")
        }
    }
}
