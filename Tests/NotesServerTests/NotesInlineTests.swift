import AuthStackCore
import AuthStackHTTP
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import NotesServer

/// `GET /notes` answered on the event loop (`NotesInlineResponder`, issue 9): over real sockets, its answers are the
/// router's byte for byte, every request it is not sure about reaches the router, pipelined requests are answered in
/// order (a listing pipelined after a write sees the write), and it can be turned off.
///
/// Which path answered is read from `http_inline_responses_total`; the router's answer to the very same request comes
/// from a second server on the same database with inline reads turned off.
@Suite struct NotesInlineTests {
    typealias HTTP = NotesHTTP

    /// The inline counter for `/notes`, from `/metrics` (answered by the router).
    private func inlineCount(_ client: some TestClientProtocol) async throws -> Int {
        let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
        let line = text.split(separator: "\n").first { $0.hasPrefix(#"http_inline_responses_total{route="/notes"}"#) }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// Header fields without the two that differ between any two responses.
    private func comparable(_ fields: HTTPFields) -> [String] {
        fields.filter { $0.name != .date && $0.name.rawName.lowercased() != "x-request-id" }
            .map { "\($0.name.canonicalName): \($0.value)" }.sorted()
    }

    @Test func inlineAnswersAreTheRoutersByteForByte() async throws {
        let fixture = NotesFixture()
        let routed = fixture.configured { $0.inlineReads = false }
        let alice = fixture.token(for: "user-alice")
        let bob = fixture.token(for: "user-bob")
        let carol = fixture.token(for: "user-carol")
        try await fixture.application().test(.live) { client in
            try await routed.application().test(.live) { router in
                for index in 0..<7 {
                    // Every escape the JSON writer knows: quote, backslash, the short forms, \u00XX; and 4-byte UTF-8.
                    try await HTTP.create(
                        client,
                        token: alice,
                        title: "note \"\(index)\" \u{E9}",
                        body: "line \(index)\n\r\t\\ \u{1}\u{1F} \u{1F600} </script>"
                    )
                    fixture.clock.advance(0.001)
                }
                try await HTTP.create(client, token: bob, title: "bob's")
                let first = try HTTP.object(try await client.execute(uri: "/notes?limit=3", method: .get, headers: HTTP.bearer(alice)))
                let cursor = try #require(first["next_cursor"] as? String)
                let cases: [(String, String)] = [
                    ("/notes", alice), ("/notes?limit=3", alice), ("/notes?limit=3&cursor=\(cursor)", alice), ("/notes?cursor=", alice),
                    ("/notes?limit=100&unknown=1", alice), ("/notes?limit=7", alice), ("/notes?limit=6", alice), ("/notes?limit=1", alice),
                    ("/notes", bob), ("/notes", carol),
                ]
                let before = try await inlineCount(client)
                for (uri, token) in cases {
                    let inline = try await client.execute(uri: uri, method: .get, headers: HTTP.bearer(token))
                    let routed = try await router.execute(uri: uri, method: .get, headers: HTTP.bearer(token))
                    #expect(inline.status == .ok, "\(uri)")
                    #expect(inline.status == routed.status, "\(uri)")
                    #expect(inline.body == routed.body, "\(uri): \(String(buffer: inline.body)) vs \(String(buffer: routed.body))")
                    #expect(comparable(inline.headers) == comparable(routed.headers), "\(uri)")
                    #expect(inline.headers[.date] != nil)
                    #expect(Self.isRequestID(inline.headers[HTTPField.Name("X-Request-ID")!]))
                }
                #expect(try await inlineCount(client) == before + cases.count, "every plain listing was answered inline")
                #expect(try await inlineCount(router) == 0)
                // Each owner sees only their own notes inline too.
                let bobs = try HTTP.object(try await client.execute(uri: "/notes", method: .get, headers: HTTP.bearer(bob)))
                #expect((bobs["notes"] as? [[String: Any]])?.map { $0["title"] as? String } == ["bob's"])
            }
        }
    }

    /// Hummingbird's generated ids: lowercase hex, up to 32 digits.
    static func isRequestID(_ value: String?) -> Bool {
        guard let value else { return false }
        return (17...32).contains(value.utf8.count) && value.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    @Test func everyRequestItIsNotSureAboutGetsTheRoutersAnswer() async throws {
        let fixture = NotesFixture().configured { _ in }
        let valid = fixture.token()
        let unknownKid = fixture.craftedToken(
            header: #"{"alg":"HS256","typ":"at+jwt","kid":"k-unknown"}"#,
            payload: fixture.validPayload(),
            kid: "k-unknown"
        )
        try await fixture.application().test(.live) { client in
            try await HTTP.create(client, token: valid, title: "one")
            let expiring = fixture.token()
            fixture.clock.advance(3_600)
            let fresh = fixture.token()
            let before = try await inlineCount(client)
            let cases: [(uri: String, method: HTTPRequest.Method, headers: HTTPFields, status: HTTPResponse.Status, code: String?)] = [
                ("/notes", .get, [:], .unauthorized, "missing_token"),
                ("/notes", .get, [.authorization: "Basic dXNlcjpwYXNz"], .unauthorized, "missing_token"),
                ("/notes", .get, HTTP.bearer(valid + "x"), .unauthorized, "invalid_token"),
                ("/notes", .get, HTTP.bearer(expiring), .unauthorized, "token_expired"),
                ("/notes", .get, HTTP.bearer(unknownKid), .unauthorized, "invalid_token"),
                ("/notes?limit=0", .get, HTTP.bearer(fresh), .badRequest, "invalid_request"),
                ("/notes?cursor=nonsense", .get, HTTP.bearer(fresh), .badRequest, "invalid_request"),
                ("/notes/", .get, HTTP.bearer(fresh), .ok, nil),
                ("/notes/n_unknown", .get, HTTP.bearer(fresh), .notFound, "note_not_found"),
                ("/notesx", .get, HTTP.bearer(fresh), .notFound, nil),
                ("/notes", .head, HTTP.bearer(fresh), .methodNotAllowed, nil),
                ("/notes", .get, [.authorization: "Bearer \(fresh)", .origin: "https://elsewhere.example"], .ok, nil),
                ("/notes", .get, [.authorization: "Bearer \(fresh)", .contentLength: "2"], .ok, nil),
            ]
            for test in cases {
                var headers = test.headers
                var body: ByteBuffer?
                if headers[.contentLength] != nil {
                    body = ByteBuffer(string: "{}")
                    headers[.contentLength] = nil
                }
                let response = try await client.execute(uri: test.uri, method: test.method, headers: headers, body: body)
                #expect(response.status == test.status, "\(test.method) \(test.uri) \(test.headers): \(String(buffer: response.body))")
                if let code = test.code {
                    #expect(try HTTP.problemCode(response) == code, "\(test.uri)")
                }
                if test.status == .unauthorized {
                    #expect(response.headers[.wwwAuthenticate]?.hasPrefix(#"Bearer realm="notes""#) == true)
                }
            }
            #expect(try await inlineCount(client) == before, "none of these was answered inline")
            // And a plain one still is.
            #expect(try await client.execute(uri: "/notes", method: .get, headers: HTTP.bearer(fresh)).status == .ok)
            #expect(try await inlineCount(client) == before + 1)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrderAndSeeEarlierWrites() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.live) { client in
            let port = try #require(client.port)
            let created = #"{"title":"pipelined write"}"#
            func request(_ line: String, body: String? = nil, close: Bool = false) -> String {
                var text = "\(line) HTTP/1.1\r\nHost: notes\r\nAuthorization: Bearer \(token)\r\n"
                if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
                if close { text += "Connection: close\r\n" }
                return text + "\r\n" + (body ?? "")
            }
            // One write: a listing, a create (router), two listings that must wait for it and show it, a 404 (router),
            // a listing, and a last request that closes.
            let batch = [
                request("GET /notes"), request("POST /notes", body: created), request("GET /notes"), request("GET /notes?limit=1"),
                request("GET /notes/n_AAAAAAAAAAAAAAAAAAAAAA"), request("GET /notes"), request("GET /notes", close: true),
            ].joined()
            let before = try await inlineCount(client)
            let (text, closed) = try await RawConnection.exchange(port: port, [Array(batch.utf8)], timeout: 20)
            #expect(closed)
            let responses = text.components(separatedBy: "HTTP/1.1 ").dropFirst()
            #expect(responses.map { Int($0.prefix(3)) } == [200, 201, 200, 200, 404, 200, 200], "\(text)")
            let bodies = responses.map { $0.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n") }
            guard bodies.count == 7 else { return }
            #expect(bodies[0] == #"{"notes":[],"next_cursor":null}"#)
            for index in [2, 3, 5, 6] {
                #expect(bodies[index].contains("pipelined write"), "response \(index) was written before the create finished: \(bodies[index])")
            }
            // The first listing had nothing ahead of it and was answered inline; the rest queued behind the create.
            #expect(try await inlineCount(client) >= before + 1)

            // Listings only, with a routed request in the middle: the inline answers before it, then the router's.
            let listings = [
                request("GET /notes?limit=1"), request("GET /notes"), request("GET /notes/n_AAAAAAAAAAAAAAAAAAAAAA"), request("GET /notes"),
                request("GET /notes", close: true),
            ].joined()
            let second = try await RawConnection.exchange(port: port, [Array(listings.utf8)], timeout: 20)
            let statuses = second.text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { Int($0.prefix(3)) }
            #expect(statuses == [200, 200, 404, 200, 200], "\(second.text)")
            #expect(second.text.components(separatedBy: "pipelined write").count - 1 == 4)
        }
    }

    @Test func theInlinePipelineKeepsHummingbirdsHeaderLimits() async throws {
        // The same excessive header count HostileInputTests sends to identity (Hummingbird's limit is 1,000 fields;
        // NIO's own default would take 65,534): refused with a 4xx by the notes service's pipeline too.
        let fixture = NotesFixture()
        try await fixture.application().test(.live) { client in
            let port = try #require(client.port)
            let request =
                "GET /notes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(fixture.token())\r\n"
                + (0..<2_000).map { "X-\($0): v\r\n" }.joined() + "\r\n"
            let (text, _) = try await RawConnection.exchange(port: port, [Array(request.utf8)])
            let status = RawConnection.status(text)
            #expect(status == nil || (400..<500).contains(status!), "\(text.prefix(80))")
        }
    }

    @Test func requestIDsAreEchoedWhenWellFormedAndGeneratedOtherwise() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.live) { client in
            let name = HTTPField.Name("X-Request-ID")!
            var headers = HTTP.bearer(token)
            headers[name] = "trace-42.a:b"
            #expect(try await client.execute(uri: "/notes", method: .get, headers: headers).headers[name] == "trace-42.a:b")
            headers[name] = "not well formed"
            let generated = try await client.execute(uri: "/notes", method: .get, headers: headers).headers[name]
            #expect(Self.isRequestID(generated))
            #expect(try await inlineCount(client) == 2)
        }
    }

    @Test func metricsCountInlineAnswersLikeRoutedOnes() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.live) { client in
            for _ in 0..<5 { _ = try await client.execute(uri: "/notes", method: .get, headers: HTTP.bearer(token)) }
            let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(text.contains(#"http_requests_total{route="/notes",method="GET",status="200"} 5"#), "\(text)")
            #expect(text.contains(#"http_request_duration_seconds_count{route="/notes",method="GET"} 5"#))
            #expect(text.contains(#"http_inline_responses_total{route="/notes"} 5"#))
        }
    }

    @Test func inlineReadsCanBeTurnedOff() async throws {
        let fixture = NotesFixture().configured { $0.inlineReads = false }
        let token = fixture.token()
        try await fixture.application().test(.live) { client in
            let response = try await client.execute(uri: "/notes", method: .get, headers: HTTP.bearer(token))
            #expect(response.status == .ok)
            #expect(try await inlineCount(client) == 0)
        }
        #expect(try NotesServiceConfiguration(environment: ["NOTES_INLINE_READS": "false"]).inlineReads == false)
        #expect(try NotesServiceConfiguration(environment: [:]).inlineReads == true)
        #expect(throws: InvalidSetting.self) { try NotesServiceConfiguration(environment: ["NOTES_INLINE_READS": "sometimes"]) }
    }
}
