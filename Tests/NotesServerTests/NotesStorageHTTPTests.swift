import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import NotesServer

/// The notes API over each storage backend: whatever a client sends is stored byte for byte or refused with a 400
/// that writes nothing, and a database failure is an opaque 500 on both.
@Suite(.timeLimit(.minutes(2))) struct NotesStorageHTTPTests {
    private typealias HTTP = NotesHTTP

    @Test(arguments: StoreKind.tested)
    func unusualTextRoundTripsByteForByteAndInvalidInputWritesNothing(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let fixture = NotesFixture().on(database)
            let token = fixture.token()
            try await fixture.application().test(.router) { client in
                let titles = [
                    "'; DROP TABLE notes; --", #"100% _under_ \back\slash "quoted""#, "e\u{301} é 👩🏽‍💻 \u{10FFFF} \u{FFFD}",
                    "\u{7F}\u{1}\t\r\n", String(repeating: "𝄞", count: NoteRules.maximumTitleLength),
                ]
                let body = String(repeating: "ü", count: NoteRules.maximumBodyBytes / 2)
                var ids: [String] = []
                for title in titles {
                    let id = try #require(try await HTTP.create(client, token: token, title: title, body: body)["id"] as? String)
                    let read = try HTTP.object(try await client.execute(uri: "/notes/\(id)", method: .get, headers: HTTP.bearer(token)))
                    #expect((read["title"] as? String).map { Array($0.utf8) } == Array(title.utf8), "\(title.debugDescription)")
                    #expect((read["body"] as? String).map { Array($0.utf8) } == Array(body.utf8))
                    ids.append(id)
                }

                // Each is refused by POST and PATCH; a body alone is a valid PATCH, so only POST gets that one.
                let invalid: [[String: Any]] = [
                    ["title": "nul\u{0}inside"], ["title": "ok", "body": "nul\u{0}inside"], ["title": ""], ["title": 7],
                    ["title": String(repeating: "x", count: NoteRules.maximumTitleLength + 1)],
                    ["title": "ok", "body": String(repeating: "x", count: NoteRules.maximumBodyBytes + 1)],
                ]
                for fields in invalid + [["body": "no title"]] {
                    let created = try await client.execute(uri: "/notes", method: .post, headers: HTTP.jsonHeaders(token), body: HTTP.body(fields))
                    #expect(created.status == .badRequest, "POST \(fields.keys.sorted())")
                    #expect(try HTTP.problemCode(created) == "invalid_request")
                }
                for fields in invalid {
                    let patched = try await client.execute(
                        uri: "/notes/\(ids[0])",
                        method: .patch,
                        headers: HTTP.jsonHeaders(token),
                        body: HTTP.body(fields)
                    )
                    #expect(patched.status == .badRequest, "PATCH \(fields.keys.sorted())")
                }
                let listed = try await HTTP.listAll(client, token: token, limit: 100)
                #expect(listed.compactMap { $0["id"] as? String } == ids.reversed(), "no refused request stored a note")
                let first = try HTTP.object(try await client.execute(uri: "/notes/\(ids[0])", method: .get, headers: HTTP.bearer(token)))
                #expect(first["title"] as? String == titles[0] && first["updated_at"] as? String == NotesFixture.startTimestamp)
            }
        }
    }

    @Test(arguments: StoreKind.tested)
    func aDatabaseFailureIsAnOpaque500(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let fixture = NotesFixture().on(database)
            let token = fixture.token()
            try await fixture.application().test(.router) { client in
                let id = try #require(try await HTTP.create(client, token: token, title: "before")["id"] as? String)
                try await database.executeOnNotesDatabase("DROP TABLE notes")
                let requests: [(String, HTTPRequest.Method, String?)] = [
                    ("/notes", .get, nil), ("/notes", .post, #"{"title":"after"}"#), ("/notes/\(id)", .get, nil),
                    ("/notes/\(id)", .patch, #"{"title":"after"}"#), ("/notes/\(id)", .delete, nil),
                ]
                for (uri, method, body) in requests {
                    let response = try await client.execute(
                        uri: uri,
                        method: method,
                        headers: HTTP.jsonHeaders(token),
                        body: body.map { HTTP.body($0) } ?? ByteBuffer()
                    )
                    #expect(response.status == .internalServerError, "\(method) \(uri)")
                    #expect(try HTTP.problemCode(response) == "internal_error")
                    #expect(try HTTP.object(response)["detail"] as? String == "The server could not complete the request.")
                    let text = String(buffer: response.body)
                    for leak in ["table", "relation", "SQL", "no such", "before"] { #expect(!text.contains(leak), "\(text)") }
                }
            }
        }
    }
}
