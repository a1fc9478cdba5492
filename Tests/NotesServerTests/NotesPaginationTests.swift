import AuthStackStorage
import AuthStackTestSupport
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import NotesServer

/// `GET /notes`: keyset pagination, newest first, stable while notes come and go between pages (docs/design.md §5).
@Suite struct NotesPaginationTests {
    private typealias HTTP = NotesHTTP

    private func titles(_ page: [String: Any]) -> [String] {
        (page["notes"] as? [[String: Any]] ?? []).compactMap { $0["title"] as? String }
    }

    @Test func pagesNeitherRepeatNorSkipNotesWhileNotesAreAddedAndDeleted() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            var ids: [String: String] = [:]
            for index in 1...25 {
                ids["n\(index)"] = try await HTTP.create(client, token: token, title: "n\(index)")["id"] as? String
            }
            let first = try HTTP.object(try await client.execute(uri: "/notes?limit=10", method: .get, headers: HTTP.bearer(token)))
            #expect(titles(first) == (16...25).reversed().map { "n\($0)" })
            let cursor1 = try #require(first["next_cursor"] as? String)

            // Between pages: three new notes, the cursor's own note and one note of the next page are deleted.
            for index in 26...28 { try await HTTP.create(client, token: token, title: "n\(index)") }
            for deleted in ["n16", "n12"] {
                let id = try #require(ids[deleted])
                #expect(try await client.execute(uri: "/notes/\(id)", method: .delete, headers: HTTP.bearer(token)).status == .noContent)
            }

            let second = try HTTP.object(
                try await client.execute(uri: "/notes?limit=10&cursor=\(cursor1)", method: .get, headers: HTTP.bearer(token))
            )
            #expect(titles(second) == [15, 14, 13, 11, 10, 9, 8, 7, 6, 5].map { "n\($0)" })
            let cursor2 = try #require(second["next_cursor"] as? String)

            // A note from the third page is deleted too.
            let n2 = try #require(ids["n2"])
            #expect(try await client.execute(uri: "/notes/\(n2)", method: .delete, headers: HTTP.bearer(token)).status == .noContent)
            let third = try HTTP.object(
                try await client.execute(uri: "/notes?limit=10&cursor=\(cursor2)", method: .get, headers: HTTP.bearer(token))
            )
            #expect(titles(third) == ["n4", "n3", "n1"])
            #expect(third["next_cursor"] is NSNull)
        }
    }

    @Test func aFullLastPageHasANullCursor() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            for index in 1...4 { try await HTTP.create(client, token: token, title: "n\(index)") }
            let first = try HTTP.object(try await client.execute(uri: "/notes?limit=2", method: .get, headers: HTTP.bearer(token)))
            let cursor = try #require(first["next_cursor"] as? String)
            let last = try HTTP.object(try await client.execute(uri: "/notes?limit=2&cursor=\(cursor)", method: .get, headers: HTTP.bearer(token)))
            #expect(titles(last) == ["n2", "n1"])
            #expect(last["next_cursor"] is NSNull, "no empty page after a page that ends exactly at the last note")
        }
    }

    @Test(arguments: [1, 3, 7, 100])
    func everyPageSizeListsEveryNoteOnceNewestFirst(limit: Int) async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            for index in 1...15 { try await HTTP.create(client, token: token, title: "n\(index)") }
            let all = try await HTTP.listAll(client, token: token, limit: limit)
            #expect(all.compactMap { $0["title"] as? String } == (1...15).reversed().map { "n\($0)" })
        }
    }

    @Test func notesOfTheSameMicrosecondAreOrderedByIdAndPagedWithoutGaps() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        // The API never gives one owner two notes of one time (creates are serialised per owner, across PostgreSQL
        // replicas too), but rows written by other means can have them; the id then decides the order.
        try await fixture.application().test(.router) { _ in }
        let ids = (0..<9).map { _ in NoteID.generate() }
        let database = try DatabaseQueue(path: fixture.configuration.database.path)
        try await database.write { db in
            for (index, id) in ids.enumerated() {
                try db.execute(
                    sql: "INSERT INTO notes (id, owner, title, body, created_at, updated_at) VALUES (?, 'user-alice', ?, '', ?, ?)",
                    arguments: [id, id, index < 6 ? 5_000_000 : index, 5_000_000]
                )
            }
        }
        try await fixture.application().test(.router) { client in
            let listed = try await HTTP.listAll(client, token: token, limit: 2).compactMap { $0["id"] as? String }
            let sameTime = ids.prefix(6).sorted(by: >)
            let older = ids.suffix(3).reversed()
            #expect(listed == Array(sameTime) + Array(older))
        }
    }

    @Test func creationTimesOfOneOwnerStayUniqueAndIncreasingWhenTheClockStepsBack() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            let first = try await HTTP.create(client, token: token, title: "first")
            let second = try await HTTP.create(client, token: token, title: "same microsecond")
            // Back 20 s: within the token leeway, so the token issued "in the future" still passes.
            fixture.clock.advance(-20)
            let third = try await HTTP.create(client, token: token, title: "clock stepped back")
            #expect(first["created_at"] as? String == "2027-01-15T08:00:00.000000Z")
            #expect(second["created_at"] as? String == "2027-01-15T08:00:00.000001Z")
            #expect(third["created_at"] as? String == "2027-01-15T08:00:00.000002Z")
            let other = try await HTTP.create(client, token: fixture.token(for: "user-bob"), title: "another owner's clock")
            #expect(other["created_at"] as? String == "2027-01-15T07:59:40.000000Z")
            let listed = try await HTTP.listAll(client, token: token, limit: 2).compactMap { $0["title"] as? String }
            #expect(listed == ["clock stepped back", "same microsecond", "first"])
        }
    }

    @Test func concurrentCreatesGetDistinctTimesAndAllAppearOnce() async throws {
        let fixture = NotesFixture()
        let token = fixture.token()
        try await fixture.application().test(.router) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 {
                    group.addTask { _ = try await HTTP.create(client, token: token, title: "c\(index)") }
                }
                try await group.waitForAll()
            }
            let all = try await HTTP.listAll(client, token: token, limit: 7)
            #expect(Set(all.compactMap { $0["title"] as? String }) == Set((0..<20).map { "c\($0)" }))
            let times = all.compactMap { $0["created_at"] as? String }
            #expect(times.count == 20)
            #expect(times == times.sorted(by: >) && Set(times).count == 20, "unique and newest first: \(times)")
        }
    }

    @Test func listingQueriesWalkTheOwnerIndexWithoutSorting() async throws {
        let fixture = NotesFixture()
        try await fixture.application().test(.router) { _ in }
        let database = try DatabaseQueue(path: fixture.configuration.database.path)
        for sql in [SQLiteNoteStore.SQL.firstPage, SQLiteNoteStore.SQL.pageAfter, SQLiteNoteStore.SQL.newest] {
            let plan = try await database.read { db in
                let arguments = StatementArguments(Array(repeating: 1, count: sql.count { $0 == "?" }))
                return try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments)
                    .map { $0["detail"] as String }.joined(separator: "; ")
            }
            #expect(plan.contains("INDEX notes_by_owner_newest_first (owner=?"), "\(plan)")
            #expect(!plan.contains("TEMP B-TREE"), "\(plan)")
        }
    }
}
