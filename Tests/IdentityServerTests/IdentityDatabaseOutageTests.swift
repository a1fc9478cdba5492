import AuthStackCore
import AuthStackStorage
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import IdentityServer

/// Identity while its PostgreSQL database is away (issue 23): every endpoint that needs the database answers 503 with
/// `Retry-After` at once, never 500 and never after a minute; a logout that could not revoke the session is not a 204.
@Suite(.enabled(if: !TestPostgres.optedOut, "AUTHSTACK_TEST_POSTGRES=off"), .timeLimit(.minutes(2)))
struct IdentityDatabaseOutageTests {
    typealias J = IdentityJSON

    @Test func everyEndpointThatNeedsTheDatabaseAnswers503AndLogoutIsNotFaked() async throws {
        try await TestDatabase.with(.postgres) { database in
            let fixture = try IdentityFixture {
                $0.database.url = database.url
                $0.database.acquireTimeout = TestDatabase.acquireTimeout
            }
            let outage = DatabaseOutage(try #require(database.url))
            let ended: Void? = try await finished(within: .seconds(60)) {
                try await fixture.application().test(.router) { client in
                    let tokens = try await client.signup("outage-user")
                    try await outage.begin()
                    let cookie: HTTPFields = [.cookie: "refresh_token=\(tokens.refreshToken)"]
                    let calls: [(String, HTTPRequest.Method, HTTPFields, ByteBuffer)] = [
                        ("/login", .post, J.jsonHeaders, J.credentials("outage-user")),
                        ("/signup", .post, J.jsonHeaders, J.credentials("outage-other")),
                        ("/refresh", .post, J.jsonHeaders, J.body(["refresh_token": tokens.refreshToken])),
                        ("/logout", .post, cookie, ByteBuffer()),
                        ("/me", .get, tokens.bearer, ByteBuffer()),
                        ("/sessions", .get, tokens.bearer, ByteBuffer()),
                    ]
                    for (path, method, headers, body) in calls {
                        let answer: TestResponse? = try await finished(within: .seconds(10)) {
                            try await client.execute(uri: path, method: method, headers: headers, body: body)
                        }
                        let response = try #require(answer, "\(path) hung during the outage")
                        #expect(response.status == .serviceUnavailable, "\(path)")
                        #expect(response.headers[.retryAfter] == "1", "\(path)")
                        #expect(response.headers[.setCookie] == nil, "\(path): no cookie set or cleared")
                        #expect(try J.object(response)["code"] as? String == "service_unavailable", "\(path)")
                    }
                    // Token checks need no database.
                    #expect(try await client.execute(uri: "/me", method: .get, headers: [.authorization: "Bearer x.y.z"]).status == .unauthorized)
                    try await outage.end()
                    var status = HTTPResponse.Status.serviceUnavailable
                    for _ in 0..<80 where status != .ok {
                        status = try await client.refresh(tokens.refreshToken).status
                        if status != .ok { try await Task.sleep(for: .milliseconds(250)) }
                    }
                    #expect(status == .ok, "the session outlived the outage: the logout above did not pretend")
                }
            }
            #expect(ended != nil, "the outage test did not finish within 60 s")
            try? await outage.end()
            await outage.close()
        }
    }
}
