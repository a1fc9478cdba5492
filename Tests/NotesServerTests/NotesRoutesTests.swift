import AuthStackCore
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import NotesServer

/// The notes API of docs/design.md §5: create, read, list, update, delete, and what each answers.
@Suite struct NotesRoutesTests {
    private typealias HTTP = NotesHTTP

    @Test func createAnswers201WithTheNoteAndItsLocation() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            let response = try await client.execute(
                uri: "/notes",
                method: .post,
                headers: HTTP.jsonHeaders(token),
                body: HTTP.body(#"{"title":"Groceries","body":"milk, eggs"}"#)
            )
            #expect(response.status == .created)
            #expect(response.headers[.contentType] == "application/json")
            #expect(response.headers[.cacheControl] == "no-store")
            let note = try HTTP.object(response)
            let id = try #require(note["id"] as? String)
            #expect(id.wholeMatch(of: /n_[A-Za-z0-9_-]{22}/) != nil)
            #expect(response.headers[.location] == "/notes/\(id)")
            #expect(note["title"] as? String == "Groceries")
            #expect(note["body"] as? String == "milk, eggs")
            #expect(note["created_at"] as? String == NotesFixture.startTimestamp)
            #expect(note["updated_at"] as? String == NotesFixture.startTimestamp)
            #expect(Set(note.keys) == ["id", "title", "body", "created_at", "updated_at"])
        }
    }

    @Test func bodyIsOptionalAndDefaultsToEmpty() async throws {
        let fixture = NotesFixture()
        try await fixture.application().test(.router) { client in
            let note = try await HTTP.create(client, token: fixture.token(), title: "Only a title")
            #expect(note["body"] as? String == "")
        }
    }

    @Test func getReturnsTheStoredNote() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            let created = try await HTTP.create(client, token: token, title: "Read me", body: "twice")
            let id = try #require(created["id"] as? String)
            let response = try await client.execute(uri: "/notes/\(id)", method: .get, headers: HTTP.bearer(token))
            #expect(response.status == .ok)
            #expect(response.headers[.cacheControl] == "no-store")
            let note = try HTTP.object(response)
            #expect(note["id"] as? String == id)
            #expect(note["title"] as? String == "Read me")
            #expect(note["body"] as? String == "twice")
            #expect(note["created_at"] as? String == created["created_at"] as? String)
        }
    }

    @Test func textRoundTripsExactlyWhateverItContains() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        let title = "Quotes \" and \\ back\\slashes, é vs e\u{301}, 😀, tab\t, U+001F \u{1F}, U+2028 \u{2028}"
        let body = "line 1\nline 2\r\n</script> {\"json\": [1, 2]} \u{7F} 中文"
        try await fixture.application().test(.router) { client in
            let created = try await HTTP.create(client, token: token, title: title, body: body)
            let id = try #require(created["id"] as? String)
            let note = try HTTP.object(try await client.execute(uri: "/notes/\(id)", method: .get, headers: HTTP.bearer(token)))
            // Compare bytes: Swift's `==` on strings would also accept a canonically equivalent spelling.
            #expect((note["title"] as? String).map { Array($0.utf8) } == Array(title.utf8))
            #expect((note["body"] as? String).map { Array($0.utf8) } == Array(body.utf8))
        }
    }

    @Test func escapedInputIsStoredUnescaped() async throws {
        let fixture = NotesFixture()
        try await fixture.application().test(.router) { client in
            let response = try await client.execute(
                uri: "/notes",
                method: .post,
                headers: HTTP.jsonHeaders(fixture.token()),
                body: HTTP.body(#"{"title":"caf\u00e9 \ud83d\ude00 \/ \"q\"","body":"a\nb"}"#)
            )
            let note = try HTTP.object(response)
            #expect(note["title"] as? String == "café 😀 / \"q\"")
            #expect(note["body"] as? String == "a\nb")
        }
    }

    @Test func patchChangesOnlyTheGivenFieldsAndMovesUpdatedAt() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            let created = try await HTTP.create(client, token: token, title: "Draft", body: "first body")
            let id = try #require(created["id"] as? String)
            fixture.clock.advance(90.25)
            let response = try await client.execute(
                uri: "/notes/\(id)",
                method: .patch,
                headers: HTTP.jsonHeaders(token),
                body: HTTP.body(#"{"title":"Final"}"#)
            )
            #expect(response.status == .ok)
            let note = try HTTP.object(response)
            #expect(note["title"] as? String == "Final")
            #expect(note["body"] as? String == "first body")
            #expect(note["created_at"] as? String == NotesFixture.startTimestamp)
            #expect(note["updated_at"] as? String == "2027-01-15T08:01:30.250000Z")

            let bodyOnly = try HTTP.object(
                try await client.execute(uri: "/notes/\(id)", method: .patch, headers: HTTP.jsonHeaders(token), body: HTTP.body(#"{"body":""}"#))
            )
            #expect(bodyOnly["title"] as? String == "Final")
            #expect(bodyOnly["body"] as? String == "")

            let stored = try HTTP.object(try await client.execute(uri: "/notes/\(id)", method: .get, headers: HTTP.bearer(token)))
            #expect(stored["title"] as? String == "Final")
            #expect(stored["body"] as? String == "")
        }
    }

    @Test(arguments: [#"{}"#, #"{"title":"Same","body":"same"}"#, #"{"unknown":1}"#])
    func patchThatChangesNothingLeavesUpdatedAtAlone(patch: String) async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            let created = try await HTTP.create(client, token: token, title: "Same", body: "same")
            let id = try #require(created["id"] as? String)
            fixture.clock.advance(600)
            let response = try await client.execute(uri: "/notes/\(id)", method: .patch, headers: HTTP.jsonHeaders(token), body: HTTP.body(patch))
            #expect(response.status == .ok)
            let note = try HTTP.object(response)
            #expect(note["title"] as? String == "Same")
            #expect(note["body"] as? String == "same")
            #expect(note["updated_at"] as? String == NotesFixture.startTimestamp)
        }
    }

    @Test func patchToACanonicallyEquivalentSpellingIsAChange() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            let created = try await HTTP.create(client, token: token, title: "caf\u{E9}")
            let id = try #require(created["id"] as? String)
            fixture.clock.advance(1)
            let note = try HTTP.object(
                try await client.execute(
                    uri: "/notes/\(id)",
                    method: .patch,
                    headers: HTTP.jsonHeaders(token),
                    body: HTTP.body(["title": "cafe\u{301}"])
                )
            )
            #expect((note["title"] as? String).map { Array($0.utf8) } == Array("cafe\u{301}".utf8))
            #expect(note["updated_at"] as? String == "2027-01-15T08:00:01.000000Z")
        }
    }

    @Test func deleteAnswers204AndTheNoteIsGone() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            let id = try #require(try await HTTP.create(client, token: token, title: "Temporary")["id"] as? String)
            let deleted = try await client.execute(uri: "/notes/\(id)", method: .delete, headers: HTTP.bearer(token))
            #expect(deleted.status == .noContent)
            #expect(deleted.body.readableBytes == 0)
            for method in [HTTPRequest.Method.get, .delete] {
                let response = try await client.execute(uri: "/notes/\(id)", method: method, headers: HTTP.bearer(token))
                #expect(response.status == .notFound)
                #expect(try HTTP.problemCode(response) == "note_not_found")
            }
            let page = try HTTP.object(try await client.execute(uri: "/notes", method: .get, headers: HTTP.bearer(token)))
            #expect((page["notes"] as? [Any])?.isEmpty == true)
        }
    }

    @Test(arguments: ["n_AAAAAAAAAAAAAAAAAAAAAA", "n_AAAAAAAAAAAAAAAAAAAAAB", "nope", "n_", "n_AAAAAAAAAAAAAAAAAAAAAAA", "%20", "1"])
    func unknownOrMalformedIdsAreNoteNotFoundOnEveryVerb(id: String) async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            try await HTTP.create(client, token: token, title: "Exists")
            for method in [HTTPRequest.Method.get, .patch, .delete] {
                let response = try await client.execute(
                    uri: "/notes/\(id)",
                    method: method,
                    headers: HTTP.jsonHeaders(token),
                    body: method == .patch ? HTTP.body(#"{"title":"x"}"#) : nil
                )
                #expect(response.status == .notFound, "\(method)")
                #expect(try HTTP.problemCode(response) == "note_not_found")
            }
        }
    }

    @Test func listIsNewestFirstWithTwentyPerPageByDefault() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            for index in 1...23 {
                try await HTTP.create(client, token: token, title: "note \(index)")
                fixture.clock.advance(1)
            }
            let response = try await client.execute(uri: "/notes", method: .get, headers: HTTP.bearer(token))
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let page = try HTTP.object(response)
            let notes = try #require(page["notes"] as? [[String: Any]])
            #expect(notes.compactMap { $0["title"] as? String } == (4...23).reversed().map { "note \($0)" })
            #expect(page["next_cursor"] is String)
        }
    }

    @Test func emptyListHasANullCursor() async throws {
        let fixture = NotesFixture()
        try await fixture.application().test(.router) { client in
            let response = try await client.execute(uri: "/notes", method: .get, headers: HTTP.bearer(fixture.token()))
            #expect(String(buffer: response.body) == #"{"notes":[],"next_cursor":null}"#)
        }
    }

    @Test func notesOutliveTheProcessAndMigrationRunsAgainHarmlessly() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        let id = try await fixture.application().test(.router) { client in
            try #require(try await HTTP.create(client, token: token, title: "Persistent")["id"] as? String)
        }
        try await fixture.application().test(.router) { client in
            let response = try await client.execute(uri: "/notes/\(id)", method: .get, headers: HTTP.bearer(token))
            #expect(response.status == .ok)
            #expect(try HTTP.object(response)["title"] as? String == "Persistent")
        }
    }

    @Test func servesTheAPIOverRealHTTP() async throws {
        let fixture = NotesFixture().configured { $0.maximumBodyBytes = 2_048 }
        let token = fixture.token()
        try await fixture.application().test(.live) { client in
            let id = try #require(try await HTTP.create(client, token: token, title: "over a socket", body: "ok")["id"] as? String)
            let read = try await client.execute(uri: "/notes/\(id)", method: .get, headers: HTTP.bearer(token))
            #expect(read.status == .ok)
            #expect(try HTTP.object(read)["body"] as? String == "ok")
            let oversized = try await client.execute(
                uri: "/notes",
                method: .post,
                headers: HTTP.jsonHeaders(token),
                body: HTTP.body(["title": String(repeating: "x", count: 4_096)])
            )
            #expect(oversized.status == .contentTooLarge)
            #expect(try HTTP.problemCode(oversized) == "payload_too_large")
        }
    }

    @Test func readinessNeedsTheDatabaseAndAKeyring() async throws {
        let fixture = NotesFixture()
        let source = ControlledKeyringSource(nil)
        try await fixture.application(source: source).test(.router) { client in
            let before = try await client.execute(uri: "/readyz", method: .get)
            #expect(before.status == .serviceUnavailable)
            #expect(String(buffer: before.body).contains("keyring"))
            source.install(fixture.keyring)
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .ok)
        }
    }
}
