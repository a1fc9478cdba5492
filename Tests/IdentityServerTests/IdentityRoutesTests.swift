import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import IdentityServer

/// Signup, login, /me, logout and sessions over HTTP (docs/design.md §5 "Identity service").
@Suite struct IdentityRoutesTests {
    typealias J = IdentityJSON

    @Test func signupIssuesTokensASessionCookieAndAVerifiableAccessToken() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            let tokens = try await client.signup("Ada.Lovelace")
            let claims = try fixture.verify(tokens.accessToken)
            #expect(claims.username == "Ada.Lovelace")
            #expect(claims.subject.hasPrefix("u_"))
            #expect(claims.sessionID?.hasPrefix("s_") == true)
            #expect(claims.audience == ["identity", "notes"])
            #expect(claims.expiresAt - claims.issuedAt == 900)
            #expect(try fixture.verify(tokens.accessToken, audience: "identity").subject == claims.subject)
            #expect(tokens.refreshToken.hasPrefix("rt_") && tokens.refreshToken.count == 46)
            #expect(tokens.refreshExpiresIn == 14 * 86_400)
            #expect(tokens.setCookie == "refresh_token=\(tokens.refreshToken); Path=/; Max-Age=\(14 * 86_400); HttpOnly; SameSite=Strict; Secure")

            try await client.execute(uri: "/me", method: .get, headers: tokens.bearer) { response throws in
                #expect(response.status == .ok)
                let me = try J.object(response)
                #expect(me["id"] as? String == claims.subject)
                #expect(me["username"] as? String == "Ada.Lovelace")
                #expect(me["created_at"] as? String == "2027-01-15T08:00:00Z")
            }
        }
    }

    @Test func signupValidatesEveryField() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            let cases: [(ByteBuffer, Set<String>)] = [
                (J.body([:]), ["username", "password"]),
                (J.body(["username": 42, "password": true]), ["username", "password"]),
                (J.body(["username": NSNull(), "password": "correct horse"]), ["username"]),
                (J.body(["username": "ab", "password": "correct horse"]), ["username"]),
                (J.body(["username": String(repeating: "a", count: 33), "password": "correct horse"]), ["username"]),
                (J.body(["username": "ada lovelace", "password": "correct horse"]), ["username"]),
                (J.body(["username": "adä", "password": "correct horse"]), ["username"]),
                (J.body(["username": "ada", "password": "1234567"]), ["password"]),
                (J.body(["username": "ada", "password": String(repeating: "é", count: 1025)]), ["password"]),
                (ByteBuffer(string: "{\"username\": \"ada\","), [""]),
                (ByteBuffer(string: "[\"ada\"]"), [""]),
                (ByteBuffer(string: ""), [""]),
            ]
            for (body, fields) in cases {
                try await client.execute(uri: "/signup", method: .post, headers: J.jsonHeaders, body: body) { response throws in
                    #expect(response.status == .badRequest, "\(String(buffer: body))")
                    #expect(response.headers[.contentType] == "application/problem+json")
                    #expect(try J.object(response)["code"] as? String == "invalid_request")
                    #expect(try J.errorFields(response) == fields, "\(String(buffer: body))")
                }
            }
            // 1,024 code points of a 2-byte character, and unknown fields, are fine.
            try await client.execute(
                uri: "/signup",
                method: .post,
                headers: J.jsonHeaders,
                body: J.body(["username": "ada", "password": String(repeating: "é", count: 1024), "extra": [1, 2]])
            ) { #expect($0.status == .created) }
        }
    }

    @Test func signupRejectsOtherMediaTypesAndOversizedBodies() async throws {
        let fixture = try IdentityFixture { $0.maximumBodyBytes = 1_024 }
        try await fixture.application().test(.router) { client in
            // The one request-body reader's rule: application/json or nothing; another `+json` type is not JSON here.
            for type in ["text/plain", "application/x-www-form-urlencoded", "application/merge-patch+json", "application/problem+json"] {
                try await client.execute(uri: "/signup", method: .post, headers: [.contentType: type], body: J.credentials("ada")) {
                    response throws in
                    #expect(response.status == .unsupportedMediaType, "\(type)")
                    #expect(try J.object(response)["code"] as? String == "unsupported_media_type")
                }
            }
            try await client.execute(
                uri: "/login",
                method: .post,
                headers: [.contentType: "application/json; charset=UTF-8"],
                body: J.credentials("nobody")
            ) {
                #expect($0.status == .unauthorized, "parameters are allowed")
            }
            let big = J.body(["username": "ada", "password": String(repeating: "x", count: 2_000)])
            try await client.execute(uri: "/signup", method: .post, headers: J.jsonHeaders, body: big) { response throws in
                #expect(response.status == .contentTooLarge)
                #expect(try J.object(response)["code"] as? String == "payload_too_large")
            }
            // Nothing was created by either.
            try await client.execute(uri: "/login", method: .post, headers: J.jsonHeaders, body: J.credentials("ada")) {
                #expect($0.status == .unauthorized)
            }
        }
    }

    @Test func usernamesAreUniqueCaseInsensitivelyAndLoginMatchesAnyCase() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            _ = try await client.signup("Grace")
            try await client.execute(uri: "/signup", method: .post, headers: J.jsonHeaders, body: J.credentials("gRACE")) { response throws in
                #expect(response.status == .conflict)
                #expect(try J.object(response)["code"] as? String == "username_taken")
            }
            let login = try await client.login("GRACE")
            #expect(login.status == .ok)
            let claims = try fixture.verify(try IssuedTokens(login).accessToken)
            #expect(claims.username == "Grace", "responses show the name as signed up")
        }
    }

    @Test func wrongPasswordAndUnknownUserGetTheSameAnswerAndTheSameHashWork() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            _ = try await client.signup("linus")
            let hashesBefore = fixture.passwords.completedOperations
            let wrong = try await client.login("linus", "not the password")
            let hashesAfterWrong = fixture.passwords.completedOperations
            let unknown = try await client.login("nobody-here", "not the password")
            #expect(wrong.status == .unauthorized)
            #expect(unknown.status == .unauthorized)
            #expect(try J.object(wrong)["code"] as? String == "invalid_credentials")
            #expect(try J.object(wrong) as NSDictionary == J.object(unknown) as NSDictionary, "no difference in the body")
            #expect(hashesAfterWrong - hashesBefore == 1)
            #expect(fixture.passwords.completedOperations - hashesAfterWrong == 1, "an unknown user costs one dummy hash")
            for body in [J.body(["username": "linus"]), J.body(["username": "linus", "password": 7])] {
                try await client.execute(uri: "/login", method: .post, headers: J.jsonHeaders, body: body) { response throws in
                    #expect(response.status == .badRequest)
                    #expect(try J.errorFields(response) == ["password"])
                }
            }
        }
    }

    @Test func bearerEndpointsAnswerLikeNotesInRealmIdentity() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            for (method, uri) in [(HTTPRequest.Method.get, "/me"), (.get, "/sessions"), (.post, "/logout-all"), (.delete, "/sessions/s_x")] {
                try await client.execute(uri: uri, method: method) { response throws in
                    #expect(response.status == .unauthorized)
                    #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="identity""#)
                    #expect(try J.object(response)["code"] as? String == "missing_token")
                }
                try await client.execute(uri: uri, method: method, headers: [.authorization: "Bearer not.a.token"]) { response throws in
                    #expect(response.status == .unauthorized)
                    #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="identity", error="invalid_token""#)
                }
            }
            // An expired access token says so.
            let tokens = try await client.signup("expiring")
            fixture.clock.advance(900 + 31)
            try await client.execute(uri: "/me", method: .get, headers: tokens.bearer) { response throws in
                #expect(response.status == .unauthorized)
                #expect(try J.object(response)["code"] as? String == "token_expired")
            }
        }
    }

    @Test func sessionsArePerUserAndDeletingOneEndsIt() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            let first = try await client.signup("alice")
            fixture.clock.advance(5)
            let second = try IssuedTokens(
                try await client.execute(
                    uri: "/login",
                    method: .post,
                    headers: [.contentType: "application/json", .userAgent: "curl/8.5"],
                    body: J.credentials("alice")
                ) { $0 }
            )
            let bob = try await client.signup("bob")
            let aliceSessions = try await client.execute(uri: "/sessions", method: .get, headers: second.bearer) { response throws in
                #expect(response.status == .ok)
                return try #require(try J.object(response)["sessions"] as? [[String: Any]])
            }
            let secondSID = try fixture.verify(second.accessToken).sessionID
            let firstSID = try fixture.verify(first.accessToken).sessionID
            #expect(aliceSessions.map { $0["id"] as? String } == [secondSID, firstSID], "most recently used first; bob's not listed")
            #expect(aliceSessions.map { $0["current"] as? Bool } == [true, false])
            #expect(aliceSessions[0]["user_agent"] as? String == "curl/8.5")
            #expect(aliceSessions[1]["user_agent"] is NSNull, "null, not absent, when no User-Agent was sent")
            #expect(aliceSessions[0]["expires_at"] as? String != nil && aliceSessions[0]["last_used_at"] as? String != nil)

            // Bob cannot delete alice's session; nobody can delete an unknown one.
            let bobSID = try #require(try fixture.verify(bob.accessToken).sessionID)
            for (bearer, id) in [(bob.bearer, try #require(firstSID)), (second.bearer, bobSID), (second.bearer, "s_unknown")] {
                try await client.execute(uri: "/sessions/\(id)", method: .delete, headers: bearer) { response throws in
                    #expect(response.status == .notFound)
                    #expect(try J.object(response)["code"] as? String == "session_not_found")
                }
            }
            // Alice ends her first session: its refresh token stops working, the second keeps working.
            try await client.execute(uri: "/sessions/\(try #require(firstSID))", method: .delete, headers: second.bearer) { response throws in
                #expect(response.status == .noContent)
                #expect(response.headers[.setCookie] == nil, "not the current session: the cookie stays")
            }
            #expect(try await client.refresh(first.refreshToken).status == .unauthorized)
            #expect(try await client.refresh(second.refreshToken).status == .ok)
            // Deleting the current session is a logout: cookie cleared, and a second delete is 404.
            try await client.execute(uri: "/sessions/\(try #require(secondSID))", method: .delete, headers: second.bearer) { response throws in
                #expect(response.status == .noContent)
                #expect(response.headers[.setCookie]?.hasPrefix("refresh_token=; Path=/; Max-Age=0") == true)
            }
            try await client.execute(uri: "/sessions/\(try #require(secondSID))", method: .delete, headers: second.bearer) {
                #expect($0.status == .notFound)
            }
        }
    }

    @Test func logoutIsIdempotentAndClearsTheCookie() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            let tokens = try await client.signup("logout-user")
            for _ in 0..<2 {
                try await client.execute(
                    uri: "/logout",
                    method: .post,
                    headers: [.cookie: "refresh_token=\(tokens.refreshToken)"]
                ) { response throws in
                    #expect(response.status == .noContent)
                    #expect(response.headers[.setCookie] == "refresh_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure")
                }
            }
            try await client.execute(uri: "/logout", method: .post) { #expect($0.status == .noContent) }
            // A body that is not JSON is refused like anywhere else, and logs nobody out.
            try await client.execute(uri: "/logout", method: .post, headers: J.jsonHeaders, body: ByteBuffer(string: "{oops")) {
                #expect($0.status == .badRequest)
            }
            let refreshed = try await client.refresh(tokens.refreshToken)
            #expect(refreshed.status == .unauthorized)
            #expect(try J.object(refreshed)["code"] as? String == "invalid_refresh_token")
            // Access tokens already issued stay valid until they expire (docs/design.md §3).
            try await client.execute(uri: "/me", method: .get, headers: tokens.bearer) { #expect($0.status == .ok) }
        }
    }

    @Test func logoutAllEndsEverySessionOfTheUserOnly() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            let one = try await client.signup("many")
            let two = try IssuedTokens(try await client.login("many"))
            let other = try await client.signup("other")
            try await client.execute(uri: "/logout-all", method: .post, headers: one.bearer) { response throws in
                #expect(response.status == .noContent)
                #expect(response.headers[.setCookie]?.contains("Max-Age=0") == true)
            }
            #expect(try await client.refresh(one.refreshToken).status == .unauthorized)
            #expect(try await client.refresh(two.refreshToken).status == .unauthorized)
            #expect(try await client.refresh(other.refreshToken).status == .ok)
            try await client.execute(uri: "/sessions", method: .get, headers: two.bearer) { response throws in
                #expect(try J.object(response)["sessions"] as? [Any] == nil || (try J.object(response)["sessions"] as! [Any]).isEmpty)
            }
        }
    }

    @Test func noKeyringMeansNotReadyAndNoHalfMadeUsers() async throws {
        let fixture = try IdentityFixture(keyring: false)
        try await fixture.application().test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .serviceUnavailable) }
            try await client.execute(uri: "/signup", method: .post, headers: J.jsonHeaders, body: J.credentials("early")) { response throws in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
            }
            #expect(fixture.passwords.completedOperations == 0, "no hash ran for a request that could not finish")
        }
        // The same database with a keyring: the name is still free.
        var ready = try IdentityFixture()
        ready.configuration.database.path = fixture.configuration.database.path
        let fixture2 = ready
        try await fixture2.application().test(.router) { client in
            _ = try await client.signup("early")
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
        }
    }

    /// A keyring whose current key is EdDSA without its private key (identity's client registered as a verifier)
    /// cannot sign: signup is refused before it writes anything, as without a keyring.
    @Test func anEdDSAKeyringWithoutPrivateKeysSignsNothingAndMakesNoUser() async throws {
        var fixture = try IdentityFixture()
        let privateKey = EdDSAKey.generatePrivateKey()
        let now = fixture.clock.now
        fixture.keyring = try Keyring(
            version: 1,
            keys: [
                KeyringKey(
                    kid: "k-ed",
                    algorithm: .edDSA,
                    secret: SecretBytes([]),
                    publicKey: try #require(EdDSAKey.publicKey(of: privateKey)),
                    status: .current,
                    createdAt: now,
                    activatedAt: now
                )
            ]
        )
        let verifierOnly = fixture
        try await verifierOnly.application().test(.router) { client in
            try await client.execute(uri: "/signup", method: .post, headers: J.jsonHeaders, body: J.credentials("early")) { response throws in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
            }
            #expect(verifierOnly.passwords.completedOperations == 0, "no hash ran for a request that could not finish")
        }
    }
}
