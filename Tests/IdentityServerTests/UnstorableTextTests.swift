import AuthStackCore
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import IdentityServer

/// U+0000, which PostgreSQL `text` cannot hold (it answers "invalid byte sequence … 0x00"), is bad input with a precise
/// 4xx on both backends, never a 500 from PostgreSQL nor a different answer from SQLite: checked before any database
/// access. (Note titles and bodies with U+0000 are 400 on both backends: NotesStorageHTTPTests.)
@Suite(.timeLimit(.minutes(2))) struct UnstorableTextTests {
    /// Subjects no AuthStack id can be, that reach a database as the notes' owner or identity's user id.
    static let subjects = ["user-alice\u{0}", "\u{0}", "u_a\u{0}b"]

    @Test(arguments: StoreKind.tested)
    func anIdentityTokenWhoseSubjectHoldsU0000IsAnInvalidToken(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let fixture = try IdentityFixture().on(database)
            try await fixture.application().test(.router) { client in
                for subject in Self.subjects {
                    let bearer: HTTPFields = [.authorization: "Bearer \(try fixture.accessToken(subject: subject))"]
                    for (uri, method) in [("/me", HTTPRequest.Method.get), ("/sessions", .get), ("/logout-all", .post), ("/sessions/s_x", .delete)] {
                        let response = try await client.execute(uri: uri, method: method, headers: bearer)
                        #expect(response.status == .unauthorized, "\(method) \(uri) \(subject.debugDescription)")
                        #expect(try IdentityJSON.object(response)["code"] as? String == "invalid_token")
                    }
                }
            }
        }
    }

    /// Sign-up refuses the name by its rules; login, which does not apply them, refuses U+0000 as malformed input
    /// (before any throttle counter is written); a password may hold it (it is hashed, never stored).
    @Test(arguments: StoreKind.tested)
    func usernamesWithU0000Are400AndPasswordsWithItAreOnlyWrong(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let fixture = try IdentityFixture().on(database)
            try await fixture.application().test(.router) { client in
                let created = try await client.execute(
                    uri: "/signup",
                    method: .post,
                    headers: IdentityJSON.jsonHeaders,
                    body: IdentityJSON.credentials("alice")
                )
                #expect(created.status == .created)
                for name in ["alice\u{0}", "\u{0}", "al\u{0}ice"] {
                    for path in ["/signup", "/login"] {
                        let response = try await client.execute(
                            uri: path,
                            method: .post,
                            headers: IdentityJSON.jsonHeaders,
                            body: IdentityJSON.credentials(name)
                        )
                        #expect(response.status == .badRequest, "\(path) \(name.debugDescription)")
                        #expect(try IdentityJSON.object(response)["code"] as? String == "invalid_request")
                        #expect(try IdentityJSON.errorFields(response) == ["username"])
                    }
                }
                let wrong = try await client.execute(
                    uri: "/login",
                    method: .post,
                    headers: IdentityJSON.jsonHeaders,
                    body: IdentityJSON.credentials("alice", "correct horse\u{0}battery")
                )
                #expect(wrong.status == .unauthorized)
                #expect(try IdentityJSON.object(wrong)["code"] as? String == "invalid_credentials")
                let right = try await client.execute(
                    uri: "/login",
                    method: .post,
                    headers: IdentityJSON.jsonHeaders,
                    body: IdentityJSON.credentials("alice")
                )
                #expect(right.status == .ok, "the refused logins did not count against the account")
            }
        }
    }
}
