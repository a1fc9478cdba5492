import AuthStackCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import NotesServer

/// Bad input is a 400 `invalid_request` naming each field, 413 or 415, and never a 500 or a partial write.
@Suite struct NotesValidationTests {
    private typealias HTTP = NotesHTTP

    /// A request body and the fields its problem must name.
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let body: [UInt8]
        let fields: [String]

        init(_ name: String, _ body: String, _ fields: [String]) {
            self.init(name, Array(body.utf8), fields)
        }

        init(_ name: String, _ body: [UInt8], _ fields: [String]) {
            self.name = name
            self.body = body
            self.fields = fields
        }

        var testDescription: String { name }
    }

    static let tooLongTitle = String(repeating: "😀", count: 201)
    static let tooLongBody = String(repeating: "é", count: 32_768) + "x"

    static let invalidCreations: [Case] = [
        Case("title missing", #"{"body":"text"}"#, ["title"]),
        Case("title empty", #"{"title":""}"#, ["title"]),
        Case("title of 201 code points", #"{"title":"\#(tooLongTitle)"}"#, ["title"]),
        Case("title a number", #"{"title":5}"#, ["title"]),
        Case("title null", #"{"title":null}"#, ["title"]),
        Case("title an array", #"{"title":["a"]}"#, ["title"]),
        Case("title with U+0000", #"{"title":"a\u0000b"}"#, ["title"]),
        Case("body a number", #"{"title":"ok","body":7}"#, ["body"]),
        Case("body null", #"{"title":"ok","body":null}"#, ["body"]),
        Case("body over 64 KiB", #"{"title":"ok","body":"\#(tooLongBody)"}"#, ["body"]),
        Case("both wrong", #"{"title":"","body":false}"#, ["title", "body"]),
        Case("not JSON", "title=hello", [""]),
        Case("truncated JSON", #"{"title":"hel"#, [""]),
        Case("empty body", "", [""]),
        Case("an array", #"[{"title":"x"}]"#, [""]),
        Case("a string", #""title""#, [""]),
        Case("a member twice", #"{"title":"a","title":"b"}"#, [""]),
        Case("invalid UTF-8", Array(#"{"title":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8), [""]),
        Case("lone surrogate", #"{"title":"\ud800"}"#, [""]),
        Case("trailing garbage", #"{"title":"a"} x"#, [""]),
    ]

    @Test(arguments: invalidCreations)
    func invalidCreationIsInvalidRequestNamingTheField(_ invalid: Case) async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            let response = try await client.execute(
                uri: "/notes",
                method: .post,
                headers: HTTP.jsonHeaders(token),
                body: ByteBuffer(bytes: invalid.body)
            )
            #expect(response.status == .badRequest)
            #expect(try HTTP.problemCode(response) == "invalid_request")
            #expect(try HTTP.errorFields(response) == invalid.fields)
            #expect(try await HTTP.listAll(client, token: token, limit: 100).isEmpty, "nothing was stored")
        }
    }

    static let invalidPatches: [Case] = [
        Case("title empty", #"{"title":""}"#, ["title"]),
        Case("title null", #"{"title":null}"#, ["title"]),
        Case("title of 201 code points", #"{"title":"\#(tooLongTitle)","body":"fine"}"#, ["title"]),
        Case("body an object", #"{"body":{}}"#, ["body"]),
        Case("body over 64 KiB", #"{"title":"fine","body":"\#(tooLongBody)"}"#, ["body"]),
        Case("not JSON", "{", [""]),
        Case("empty body", "", [""]),
        Case("an array", "[]", [""]),
    ]

    @Test(arguments: invalidPatches)
    func invalidPatchIsInvalidRequestAndChangesNothing(_ invalid: Case) async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            let id = try #require(try await HTTP.create(client, token: token, title: "Original", body: "kept")["id"] as? String)
            let response = try await client.execute(
                uri: "/notes/\(id)",
                method: .patch,
                headers: HTTP.jsonHeaders(token),
                body: ByteBuffer(bytes: invalid.body)
            )
            #expect(response.status == .badRequest)
            #expect(try HTTP.problemCode(response) == "invalid_request")
            #expect(try HTTP.errorFields(response) == invalid.fields)
            let note = try HTTP.object(try await client.execute(uri: "/notes/\(id)", method: .get, headers: HTTP.bearer(token)))
            #expect(note["title"] as? String == "Original")
            #expect(note["body"] as? String == "kept")
        }
    }

    @Test func limitsAreInclusiveAndCountedAsSpecified() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            // 200 code points that are 800 bytes of UTF-8; 200 code points that are only 100 grapheme clusters;
            // a body of exactly 65,536 bytes of two-byte characters.
            let emoji = try await HTTP.create(client, token: token, title: String(repeating: "😀", count: 200))
            #expect((emoji["title"] as? String)?.unicodeScalars.count == 200)
            let combining = try await HTTP.create(client, token: token, title: String(repeating: "e\u{301}", count: 100))
            #expect((combining["title"] as? String)?.unicodeScalars.count == 200)
            let body = try await HTTP.create(client, token: token, title: "t", body: String(repeating: "é", count: 32_768))
            #expect((body["body"] as? String)?.utf8.count == 65_536)
        }
    }

    @Test func unknownMembersAreIgnored() async throws {
        let fixture = NotesFixture()
        try await fixture.application().test(.router) { client in
            let response = try await client.execute(
                uri: "/notes",
                method: .post,
                headers: HTTP.jsonHeaders(fixture.token()),
                body: HTTP.body(#"{"id":"n_mine","color":"red","title":"Kept","nested":{"a":[1,2,{"b":null}]},"created_at":0}"#)
            )
            #expect(response.status == .created)
            let note = try HTTP.object(response)
            #expect(note["title"] as? String == "Kept")
            #expect(note["id"] as? String != "n_mine")
            #expect(note["created_at"] as? String == NotesFixture.startTimestamp)
        }
    }

    // MARK: Query parameters

    @Test(arguments: [
        ("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"), ("limit=-1", "limit"), ("limit=1.5", "limit"),
        ("limit=%2B5", "limit"), ("limit=1e1", "limit"), ("cursor=garbage", "cursor"), ("cursor=n_AAAAAAAAAAAAAAAAAAAAAA", "cursor"),
        // Right length, wrong version byte; right version, negative time; one byte short.
        ("cursor=AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "cursor"), ("cursor=Af__________AAAAAAAAAAAAAAAAAAAAAA", "cursor"),
        ("cursor=AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "cursor"), ("cursor=%00", "cursor"),
    ])
    func invalidQueryIsInvalidRequestNamingTheParameter(query: String, field: String) async throws {
        let fixture = NotesFixture()
        try await fixture.application().test(.router) { client in
            let response = try await client.execute(uri: "/notes?\(query)", method: .get, headers: HTTP.bearer(fixture.token()))
            #expect(response.status == .badRequest)
            #expect(try HTTP.problemCode(response) == "invalid_request")
            #expect(try HTTP.errorFields(response) == [field])
        }
    }

    @Test func bothBadParametersAreReportedTogether() async throws {
        let fixture = NotesFixture()
        try await fixture.application().test(.router) { client in
            let response = try await client.execute(uri: "/notes?limit=0&cursor=x", method: .get, headers: HTTP.bearer(fixture.token()))
            #expect(try HTTP.errorFields(response) == ["limit", "cursor"])
        }
    }

    @Test(arguments: ["limit=1", "limit=100", "limit=", "cursor=", "limit=020"])
    func validQueriesAreAccepted(query: String) async throws {
        let fixture = NotesFixture()
        try await fixture.application().test(.router) { client in
            let response = try await client.execute(uri: "/notes?\(query)", method: .get, headers: HTTP.bearer(fixture.token()))
            #expect(response.status == .ok)
        }
    }

    // MARK: Size and media type

    @Test func bodyOverTheConfiguredLimitIs413() async throws {
        let fixture = NotesFixture().configured { $0.maximumBodyBytes = 2_048 }
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            let id = try #require(try await HTTP.create(client, token: token, title: "fits")["id"] as? String)
            let large = HTTP.body(["title": "too big", "padding": String(repeating: "x", count: 2_048)])
            for (uri, method) in [("/notes", HTTPRequest.Method.post), ("/notes/\(id)", .patch)] {
                let response = try await client.execute(uri: uri, method: method, headers: HTTP.jsonHeaders(token), body: large)
                #expect(response.status == .contentTooLarge)
                #expect(try HTTP.problemCode(response) == "payload_too_large")
            }
            let exact = HTTP.body(#"{"title":"at the limit"}"# + String(repeating: " ", count: 2_048 - 24))
            #expect(exact.readableBytes == 2_048)
            let response = try await client.execute(uri: "/notes", method: .post, headers: HTTP.jsonHeaders(token), body: exact)
            #expect(response.status == .created)
        }
    }

    @Test func defaultLimitIsOneMebibyte() async throws {
        let fixture = NotesFixture()
        #expect(fixture.configuration.maximumBodyBytes == 1_048_576)
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            let prefix = #"{"title":"big","padding":""#
            let fitting = prefix + String(repeating: "x", count: 1_048_576 - prefix.utf8.count - 2) + #""}"#
            let accepted = try await client.execute(uri: "/notes", method: .post, headers: HTTP.jsonHeaders(token), body: HTTP.body(fitting))
            #expect(accepted.status == .created)
            let refused = try await client.execute(uri: "/notes", method: .post, headers: HTTP.jsonHeaders(token), body: HTTP.body(fitting + " "))
            #expect(refused.status == .contentTooLarge)
            #expect(try HTTP.problemCode(refused) == "payload_too_large")
        }
    }

    @Test(arguments: ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", "application/problem+json", "json", ""])
    func otherMediaTypesAre415(contentType: String) async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            let id = try #require(try await HTTP.create(client, token: token, title: "kept")["id"] as? String)
            for (uri, method) in [("/notes", HTTPRequest.Method.post), ("/notes/\(id)", .patch)] {
                let response = try await client.execute(
                    uri: uri,
                    method: method,
                    headers: [.authorization: "Bearer \(token)", .contentType: contentType],
                    body: HTTP.body(#"{"title":"x"}"#)
                )
                #expect(response.status == .unsupportedMediaType)
                #expect(try HTTP.problemCode(response) == "unsupported_media_type")
            }
        }
    }

    /// A body with no `Content-Type` is 415 like a form: it is what a cross-site `fetch` may send without a preflight.
    @Test func aBodyWithoutAMediaTypeIs415() async throws {
        let fixture = NotesFixture()
        try await fixture.application().test(.router) { client in
            let response = try await client.execute(
                uri: "/notes",
                method: .post,
                headers: HTTP.bearer(fixture.token()),
                body: HTTP.body(#"{"title":"x"}"#)
            )
            #expect(response.status == .unsupportedMediaType)
            #expect(try HTTP.problemCode(response) == "unsupported_media_type")
        }
    }

    @Test(arguments: ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON;charset=UTF-8", "application/json ; x=y"])
    func jsonIsAccepted(contentType: String?) async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            var headers = HTTP.bearer(token)
            if let contentType { headers[.contentType] = contentType }
            let response = try await client.execute(uri: "/notes", method: .post, headers: headers, body: HTTP.body(#"{"title":"x"}"#))
            #expect(response.status == .created)
        }
    }
}
