import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import NotesServer

/// Every user sees only their own notes: another user's note is 404 on every verb and never listed (docs/design.md §5).
@Suite struct NotesIsolationTests {
    private typealias HTTP = NotesHTTP

    @Test func anotherUsersNoteIsNotFoundOnEveryVerbAndStaysIntact() async throws {
        let fixture = NotesFixture()
        let alice = fixture.token(for: "user-alice")
        let bob = fixture.token(for: "user-bob")
        try await fixture.application().test(.router) { client in
            let id = try #require(try await HTTP.create(client, token: alice, title: "Alice's secret", body: "diary")["id"] as? String)
            try await HTTP.create(client, token: bob, title: "Bob's own")

            for method in [HTTPRequest.Method.get, .patch, .delete] {
                let response = try await client.execute(
                    uri: "/notes/\(id)",
                    method: method,
                    headers: HTTP.jsonHeaders(bob),
                    body: method == .patch ? HTTP.body(#"{"title":"pwned"}"#) : nil
                )
                #expect(response.status == .notFound, "\(method)")
                #expect(try HTTP.problemCode(response) == "note_not_found")
                #expect(!String(buffer: response.body).contains("Alice"))
            }

            let bobsNotes = try await HTTP.listAll(client, token: bob, limit: 100)
            #expect(bobsNotes.compactMap { $0["title"] as? String } == ["Bob's own"])

            let note = try HTTP.object(try await client.execute(uri: "/notes/\(id)", method: .get, headers: HTTP.bearer(alice)))
            #expect(note["title"] as? String == "Alice's secret", "bob's PATCH changed nothing")
            #expect(note["body"] as? String == "diary")
            #expect(try await HTTP.listAll(client, token: alice, limit: 100).count == 1, "bob's DELETE removed nothing")
        }
    }

    @Test func aCursorFromAnotherUserStillListsOnlyYourOwnNotes() async throws {
        let fixture = NotesFixture()
        let alice = fixture.token(for: "user-alice")
        let bob = fixture.token(for: "user-bob")
        try await fixture.application().test(.router) { client in
            for index in 1...3 {
                try await HTTP.create(client, token: bob, title: "bob \(index)")
                try await HTTP.create(client, token: alice, title: "alice \(index)")
            }
            let alicePage = try HTTP.object(try await client.execute(uri: "/notes?limit=1", method: .get, headers: HTTP.bearer(alice)))
            let cursor = try #require(alicePage["next_cursor"] as? String)
            let bobPage = try HTTP.object(try await client.execute(uri: "/notes?cursor=\(cursor)", method: .get, headers: HTTP.bearer(bob)))
            let titles = (bobPage["notes"] as? [[String: Any]] ?? []).compactMap { $0["title"] as? String }
            #expect(titles.allSatisfy { $0.hasPrefix("bob") })
            #expect(!titles.isEmpty)
        }
    }
}
