import AuthStackCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IdentityServer

private typealias J = IdentityJSON

/// `POST /password` (docs/design.md §5.2): the current password checked like a login, the new one by the signup
/// rules; the hash replaced and every other session ended in one step, the caller's session kept.
@Suite struct PasswordChangeTests {
    private func change(_ current: String, to new: String) -> ByteBuffer { J.body(["current_password": current, "new_password": new]) }

    private func headers(_ tokens: IssuedTokens) -> HTTPFields { tokens.bearer + J.jsonHeaders }

    @Test func aChangeKeepsTheCallersSessionAndEndsEveryOther() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            let caller = try await client.signup("heidi", "correct horse battery")
            let laptop = try IssuedTokens(try await client.login("heidi", "correct horse battery"))
            let other = try await client.signup("ivan")
            try await client.execute(
                uri: "/password",
                method: .post,
                headers: headers(caller),
                body: change("correct horse battery", to: "a brand new passphrase")
            ) { response throws in
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "no-store")
                #expect(try J.object(response)["revoked_sessions"] as? Int == 1)
            }
            #expect(try await client.login("heidi", "correct horse battery").status == .unauthorized, "the old password is gone")
            #expect(try await client.login("heidi", "a brand new passphrase").status == .ok)
            #expect(try await client.refresh(laptop.refreshToken).status == .unauthorized, "the other session ended")
            #expect(try await client.refresh(caller.refreshToken).status == .ok, "the caller's session goes on")
            #expect(try await client.refresh(other.refreshToken).status == .ok, "another user's session goes on")
        }
    }

    @Test func aWrongCurrentPasswordIsA400OnItsFieldAndChangesNothing() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            let caller = try await client.signup("judy")
            let laptop = try IssuedTokens(try await client.login("judy"))
            try await client.execute(
                uri: "/password",
                method: .post,
                headers: headers(caller),
                body: change("not my password", to: "another passphrase")
            ) { response throws in
                #expect(response.status == .badRequest)
                #expect(try J.errorFields(response) == ["current_password"])
            }
            #expect(try await client.login("judy").status == .ok)
            #expect(try await client.refresh(laptop.refreshToken).status == .ok)
        }
    }

    @Test(arguments: [
        (["current_password": "correct horse battery", "new_password": "short"], "new_password"),
        (["current_password": "correct horse battery", "new_password": "correct horse battery"], "new_password"),
        (["new_password": "another passphrase"], "current_password"),
        (["current_password": "correct horse battery"], "new_password"),
    ])
    func aBadBodyIsA400NamingTheField(body: [String: String], field: String) async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            let caller = try await client.signup("kim")
            try await client.execute(uri: "/password", method: .post, headers: headers(caller), body: J.body(body)) { response throws in
                #expect(response.status == .badRequest)
                #expect(try J.errorFields(response).contains(field))
            }
            #expect(try await client.login("kim").status == .ok, "the password is unchanged")
        }
    }

    @Test func withoutAValidAccessTokenNothingIsChecked() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            _ = try await client.signup("leo")
            try await client.execute(
                uri: "/password",
                method: .post,
                headers: J.jsonHeaders,
                body: change("correct horse battery", to: "x y z w v u")
            ) {
                #expect($0.status == .unauthorized)
            }
            let hashes = fixture.passwords.completedOperations
            try await client.execute(
                uri: "/password",
                method: .post,
                headers: [.authorization: "Bearer x.y.z", .contentType: "application/json"],
                body: change("correct horse battery", to: "x y z w v u")
            ) { #expect($0.status == .unauthorized) }
            #expect(fixture.passwords.completedOperations == hashes, "no hash for a request without a valid token")
        }
    }

    @Test func wrongCurrentPasswordsAreThrottledLikeLogins() async throws {
        let fixture = try IdentityFixture { $0.throttle.loginFailuresPerAddress = 3 }
        try await fixture.application().test(.router) { client in
            let caller = try await client.signup("mia")
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<5 {
                statuses.append(
                    try await client.execute(
                        uri: "/password",
                        method: .post,
                        headers: headers(caller),
                        body: change("guess", to: "another passphrase")
                    ) {
                        $0.status
                    }
                )
            }
            #expect(statuses.prefix(3).allSatisfy { $0 == .badRequest })
            #expect(statuses.suffix(2).allSatisfy { $0 == .tooManyRequests }, "\(statuses)")
        }
    }
}
