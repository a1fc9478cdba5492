import AuthStackCore
import AuthStackHTTP
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import NotesServer

/// Every notes route needs a valid access token; each failure is a 401 with an RFC 6750 challenge (docs/design.md §2, §5).
@Suite struct NotesAuthenticationTests {
    private typealias HTTP = NotesHTTP

    private static let routes: [(String, HTTPRequest.Method)] = [
        ("/notes", .get), ("/notes", .post), ("/notes/n_AAAAAAAAAAAAAAAAAAAAAA", .get),
        ("/notes/n_AAAAAAAAAAAAAAAAAAAAAA", .patch), ("/notes/n_AAAAAAAAAAAAAAAAAAAAAA", .delete),
    ]

    private func send(_ client: some TestClientProtocol, _ route: (String, HTTPRequest.Method), headers: HTTPFields) async throws -> TestResponse {
        let hasBody = route.1 == .post || route.1 == .patch
        var headers = headers
        if hasBody { headers[.contentType] = "application/json" }
        return try await client.execute(uri: route.0, method: route.1, headers: headers, body: hasBody ? HTTP.body(#"{"title":"x"}"#) : nil)
    }

    @Test func noTokenIsMissingTokenWithAChallengeWithoutError() async throws {
        let fixture = NotesFixture()
        try await fixture.application().test(.router) { client in
            for route in Self.routes {
                for headers: HTTPFields in [[:], [.authorization: "Basic dXNlcjpwYXNz"], [.authorization: "Bearer "]] {
                    let response = try await send(client, route, headers: headers)
                    #expect(response.status == .unauthorized, "\(route)")
                    #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="notes""#)
                    #expect(try HTTP.problemCode(response) == "missing_token")
                }
            }
        }
    }

    /// Tokens that must be refused with the generic `invalid_token`, built against the fixture's keys.
    static let invalidTokens: [(String, @Sendable (NotesFixture) -> String)] = [
        ("not a JWT", { _ in "not-a-token" }),
        ("two segments", { fixture in String(fixture.token().split(separator: ".").prefix(2).joined(separator: ".")) }),
        (
            "bad signature",
            { fixture in
                let token = fixture.token()
                return String(token.dropLast(2)) + (token.hasSuffix("AA") ? "BA" : "AA")
            }
        ),
        (
            "signed with another secret",
            { fixture in
                fixture.craftedToken(
                    header: #"{"alg":"HS256","typ":"at+jwt","kid":"k-current"}"#,
                    payload: fixture.validPayload(),
                    kid: "k-forged"
                )
            }
        ),
        (
            "wrong typ",
            { fixture in
                fixture.craftedToken(header: #"{"alg":"HS256","typ":"JWT","kid":"k-current"}"#, payload: fixture.validPayload())
            }
        ),
        (
            "alg none",
            { fixture in
                fixture.craftedToken(header: #"{"alg":"none","typ":"at+jwt","kid":"k-current"}"#, payload: fixture.validPayload())
            }
        ),
        ("wrong audience", { fixture in fixture.token(audience: ["identity"]) }),
        ("wrong issuer", { fixture in fixture.token(issuer: "someone-else") }),
        ("issued in the future", { fixture in fixture.token(issuedAt: fixture.clock.now.addingTimeInterval(120)) }),
        ("revoked kid (not in the keyring)", { fixture in fixture.token(kid: "k-revoked") }),
    ]

    @Test(arguments: invalidTokens.indices)
    func invalidTokensAreInvalidTokenWithAnErrorChallenge(index: Int) async throws {
        let (name, make) = Self.invalidTokens[index]
        let fixture = NotesFixture()
        let token = make(fixture)
        try await fixture.application().test(.router) { client in
            for route in Self.routes {
                let response = try await send(client, route, headers: HTTP.bearer(token))
                #expect(response.status == .unauthorized, "\(name) \(route)")
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="notes", error="invalid_token""#)
                #expect(try HTTP.problemCode(response) == "invalid_token", "\(name)")
                #expect(!String(buffer: response.body).contains(token), "the token is never echoed")
            }
        }
    }

    @Test func expiredTokenIsTokenExpired() async throws {
        let fixture = NotesFixture()
        // 15 min TTL + 30 s leeway have passed.
        let token = fixture.token(issuedAt: fixture.clock.now.addingTimeInterval(-(15 * 60 + 31)))
        let stillValid = fixture.token(issuedAt: fixture.clock.now.addingTimeInterval(-(15 * 60 + 29)))
        try await fixture.application().test(.router) { client in
            for route in Self.routes {
                let response = try await send(client, route, headers: HTTP.bearer(token))
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="notes", error="invalid_token""#)
                #expect(try HTTP.problemCode(response) == "token_expired")
            }
            #expect(try await client.execute(uri: "/notes", method: .get, headers: HTTP.bearer(stillValid)).status == .ok, "within the leeway")
        }
    }

    @Test func configuredAudienceAndIssuerAreTheOnesChecked() async throws {
        let fixture = NotesFixture().configured { $0.tokenPolicy = TokenVerificationPolicy(issuer: "https://auth.example", audience: "memo") }
        try await fixture.application().test(.router) { client in
            let configured = try await client.execute(
                uri: "/notes",
                method: .get,
                headers: HTTP.bearer(fixture.token(audience: ["memo"], issuer: "https://auth.example"))
            )
            #expect(configured.status == .ok)
            let defaults = try await client.execute(uri: "/notes", method: .get, headers: HTTP.bearer(fixture.token()))
            #expect(defaults.status == .unauthorized)
        }
    }

    @Test func unknownKidIsAcceptedAfterOneKeyringRefresh() async throws {
        let fixture = NotesFixture()
        let source = ControlledKeyringSource(fixture.keyring)
        // The key service rotated and published k-newer; this verifier has not heard yet.
        source.prepareRefresh(NotesFixture.keyring(version: 2, [("k-current", .current), ("k-next", .previous), ("k-newer", .next)]))
        let token = fixture.token(kid: "k-newer")
        try await fixture.application(source: source).test(.router) { client in
            let response = try await client.execute(uri: "/notes", method: .get, headers: HTTP.bearer(token))
            #expect(response.status == .ok)
            #expect(source.refreshes == 1)
            #expect(try await client.execute(uri: "/notes", method: .get, headers: HTTP.bearer(token)).status == .ok)
            #expect(source.refreshes == 1, "the kid is held now: no second refresh")
        }
    }

    @Test func unknownKidStillUnknownAfterTheRefreshIsInvalidToken() async throws {
        let fixture = NotesFixture()
        let source = ControlledKeyringSource(fixture.keyring)
        try await fixture.application(source: source).test(.router) { client in
            let response = try await client.execute(uri: "/notes", method: .get, headers: HTTP.bearer(fixture.token(kid: "k-forged")))
            #expect(response.status == .unauthorized)
            #expect(try HTTP.problemCode(response) == "invalid_token")
            #expect(source.refreshes == 1)
        }
    }

    @Test func withoutAKeyringYetRequestsAre503NotA401() async throws {
        let fixture = NotesFixture()
        try await fixture.application(source: FixedKeyringSource(nil)).test(.router) { client in
            for route in Self.routes {
                let response = try await send(client, route, headers: HTTP.bearer(fixture.token()))
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
                #expect(try HTTP.problemCode(response) == "service_unavailable")
            }
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .serviceUnavailable)
        }
    }

    @Test func requestsKeepSucceedingWhileTheKeyringChanges() async throws {
        let fixture = NotesFixture()
        let source = ControlledKeyringSource(fixture.keyring)
        let token = fixture.token(kid: "k-current")
        // Every version holds k-current, as current, previous or next, next to other keys that come and go.
        let versions = (2...41).map { version in
            NotesFixture.keyring(
                version: version,
                version % 3 == 0
                    ? [("k-current", .previous), ("k-\(version)", .current), ("k-\(version + 1)", .next)]
                    : version % 3 == 1 ? [("k-\(version)", .current), ("k-current", .next)] : [("k-current", .current), ("k-\(version)", .next)]
            )
        }
        try await fixture.application(source: source).test(.router) { client in
            let id = try #require(try await HTTP.create(client, token: token, title: "always readable")["id"] as? String)
            let statuses = try await withThrowingTaskGroup(of: [HTTPResponse.Status].self) { group in
                group.addTask {
                    for keyring in versions {
                        source.install(keyring)
                        await Task.yield()
                    }
                    return []
                }
                for worker in 0..<4 {
                    group.addTask {
                        var statuses: [HTTPResponse.Status] = []
                        for request in 0..<50 {
                            let uri = (worker + request) % 2 == 0 ? "/notes/\(id)" : "/notes?limit=5"
                            statuses.append(try await client.execute(uri: uri, method: .get, headers: HTTP.bearer(token)).status)
                        }
                        return statuses
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(statuses.count == 200)
            #expect(statuses.allSatisfy { $0 == .ok }, "\(statuses.filter { $0 != .ok })")
            #expect(source.current()?.keyring.version == 41, "every keyring was installed during the run")
            #expect(source.refreshes == 0, "a held kid never causes a refresh")
        }
    }
}
