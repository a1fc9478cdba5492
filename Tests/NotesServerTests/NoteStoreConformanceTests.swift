import AuthStackCore
import AuthStackTestSupport
import Foundation
import Testing

@testable import NotesServer

/// The ``NoteStore`` contract, the same cases on SQLite and PostgreSQL: per-owner CRUD in which another owner's note
/// does not exist, creation times unique and increasing per owner however many creates race, keyset pages in
/// (`created_at`, `id`) descending order, PATCH semantics without lost updates, durability.
@Suite(.timeLimit(.minutes(2))) struct NoteStoreConformanceTests {
    /// 2027-01-15T08:00:00Z, in microseconds.
    static let t0: Int64 = 1_800_000_000_000_000
    let t0 = Self.t0

    // MARK: CRUD and isolation

    @Test(arguments: StoreKind.tested)
    func aNoteReadsBackExactlyAndOnlyForItsOwner(kind: StoreKind) async throws {
        let t0 = self.t0
        try await TestDatabase.with(kind) { database in
            let store = try await database.noteStore()
            let body = String(repeating: "ä", count: NoteRules.maximumBodyBytes / 2)
            let draft = NoteDraft(title: "Grüße 👋🏽 e\u{301} '%_\\", body: body)
            let created = try await store.create(draft, id: NoteID.generate(), owner: "alice", now: t0)
            #expect(created.title == draft.title && created.body == body)
            #expect(created.createdAt == t0 && created.updatedAt == t0)
            let read = try #require(try await store.note(id: created.id, owner: "alice"))
            #expect(read == created)
            #expect(Array(read.title.utf8) == Array(draft.title.utf8), "the bytes, not just an equivalent string")

            #expect(try await store.note(id: created.id, owner: "bob") == nil)
            #expect(try await store.update(id: created.id, owner: "bob", patch: NotePatch(title: "mine now"), now: t0 + 1) == nil)
            #expect(try await store.delete(id: created.id, owner: "bob") == false)
            #expect(try await store.page(owner: "bob", request: NotePageRequest()) == NotePage(rows: [], limit: 20))
            #expect(try await store.page(owner: "ALICE", request: NotePageRequest()).notes.isEmpty, "owners are exact strings")
            #expect(try await store.note(id: created.id, owner: "alice") == created, "the other owner changed nothing")
            #expect(try await store.note(id: NoteID.generate(), owner: "alice") == nil)
        }
    }

    @Test(arguments: StoreKind.tested)
    func aDeletedNoteIsGoneAndDeletesOnce(kind: StoreKind) async throws {
        let t0 = self.t0
        try await TestDatabase.with(kind) { database in
            let store = try await database.noteStore()
            let kept = try await store.create(NoteDraft(title: "kept"), id: NoteID.generate(), owner: "alice", now: t0)
            let note = try await store.create(NoteDraft(title: "doomed"), id: NoteID.generate(), owner: "alice", now: t0)
            #expect(try await store.delete(id: note.id, owner: "alice"))
            #expect(try await store.delete(id: note.id, owner: "alice") == false)
            #expect(try await store.note(id: note.id, owner: "alice") == nil)
            #expect(try await store.update(id: note.id, owner: "alice", patch: NotePatch(title: "back"), now: t0 + 5) == nil)
            #expect(try await store.page(owner: "alice", request: NotePageRequest()).notes == [kept])
        }
    }

    @Test(arguments: StoreKind.tested)
    func notesSurviveReopeningAndTheStoreIsReady(kind: StoreKind) async throws {
        let t0 = self.t0
        try await TestDatabase.with(kind) { database in
            let store = try await database.noteStore()
            let note = try await store.create(NoteDraft(title: "durable", body: "yes"), id: NoteID.generate(), owner: "alice", now: t0)
            #expect(await store.isReady())
            // Opening again runs the migrations again: they change nothing.
            let reopened = try await database.noteStore()
            #expect(try await reopened.note(id: note.id, owner: "alice") == note)
            #expect(await reopened.isReady())
        }
    }

    // MARK: Creation times

    @Test(arguments: StoreKind.tested)
    func creationTimesOfOneOwnerAreUniqueAndIncreasingWhateverTheClockSays(kind: StoreKind) async throws {
        let t0 = self.t0
        try await TestDatabase.with(kind) { database in
            let store = try await database.noteStore()
            func create(_ owner: String, at now: Int64) async throws -> Int64 {
                try await store.create(NoteDraft(title: "t"), id: NoteID.generate(), owner: owner, now: now).createdAt
            }
            #expect(try await create("alice", at: t0) == t0)
            #expect(try await create("alice", at: t0) == t0 + 1, "same microsecond")
            #expect(try await create("alice", at: t0 - 5_000_000) == t0 + 2, "clock stepped back")
            #expect(try await create("bob", at: t0 - 5_000_000) == t0 - 5_000_000, "another owner's times are its own")
            #expect(try await create("alice", at: t0 + 10) == t0 + 10)
        }
    }

    @Test(arguments: StoreKind.tested)
    func fortyConcurrentCreatesOfOneOwnerGetFortyDistinctTimes(kind: StoreKind) async throws {
        let t0 = self.t0
        try await TestDatabase.with(kind) { database in
            let store = try await database.noteStore()
            let times = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<40 {
                    group.addTask { try await store.create(NoteDraft(title: "c\(index)"), id: NoteID.generate(), owner: "alice", now: t0).createdAt }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(times.sorted() == Array(t0..<t0 + 40), "one microsecond apart, none shared")
            let listed = try await store.page(owner: "alice", request: NotePageRequest(limit: 100)).notes.map(\.createdAt)
            #expect(listed == Array((t0..<t0 + 40).reversed()))
        }
    }

    // MARK: Pages

    @Test(arguments: StoreKind.tested)
    func pagesListEveryNoteOnceByTimeThenIdBytesDescending(kind: StoreKind) async throws {
        try await TestDatabase.with(kind, postgresOptions: TestPostgres.icuCollation) { database in
            let store = try await database.noteStore()
            let planted = PlantedNotes.make()
            try await planted.plant(in: database)
            let expected = planted.rows.filter { $0.owner == "alice" }.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }.map(\.id)
            for limit in [1, 2, 4, 100] {
                let pages = try await PlantedNotes.walk(store, owner: "alice", limit: limit)
                #expect(pages.flatMap(\.notes).map(\.id) == expected, "limit \(limit)")
                #expect(pages.dropLast().allSatisfy { $0.notes.count == limit && $0.next != nil })
                #expect(pages.last?.next == nil)
            }
        }
    }

    @Test(arguments: StoreKind.tested)
    func aCursorStaysValidWhenItsNoteAndOthersAreDeletedOrAdded(kind: StoreKind) async throws {
        let t0 = self.t0
        try await TestDatabase.with(kind) { database in
            let store = try await database.noteStore()
            var notes: [Note] = []
            for index in 1...6 {
                notes.append(try await store.create(NoteDraft(title: "n\(index)"), id: NoteID.generate(), owner: "alice", now: t0 + Int64(index)))
            }
            let first = try await store.page(owner: "alice", request: NotePageRequest(limit: 2))
            #expect(first.notes.map(\.title) == ["n6", "n5"])
            let next = try #require(first.next)
            let cursor = try #require(NoteCursor(encoded: next.encoded))
            #expect(try await store.delete(id: notes[4].id, owner: "alice"), "the cursor's own note")
            #expect(try await store.delete(id: notes[2].id, owner: "alice"))
            _ = try await store.create(NoteDraft(title: "n7"), id: NoteID.generate(), owner: "alice", now: t0 + 7)
            let second = try await store.page(owner: "alice", request: NotePageRequest(limit: 2, after: cursor))
            #expect(second.notes.map(\.title) == ["n4", "n2"])
            let third = try await store.page(owner: "alice", request: NotePageRequest(limit: 2, after: second.next))
            #expect(third.notes.map(\.title) == ["n1"])
            #expect(third.next == nil)
        }
    }

    /// The same notes, planted and created with the same ids and times, page identically on both backends, cursors
    /// included, even when PostgreSQL's default collation is not byte order (ICU `en-US`).
    @Test(.enabled(if: !TestPostgres.optedOut, "AUTHSTACK_TEST_POSTGRES=off"))
    func bothBackendsAnswerTheSamePagesAndCursors() async throws {
        let t0 = self.t0
        let planted = PlantedNotes.make()
        let createdIDs = (0..<5).map { _ in NoteID.generate() }
        let limits = [1, 2, 3, 7, 100]
        // Each page as one line, "id@created_at … → next_cursor", so that a difference reads at a glance.
        var walks: [StoreKind: [String]] = [:]
        for kind in StoreKind.allCases {
            walks[kind] = try await TestDatabase.with(kind, postgresOptions: TestPostgres.icuCollation) { database in
                let store = try await database.noteStore()
                try await planted.plant(in: database)
                for id in createdIDs { _ = try await store.create(NoteDraft(title: id), id: id, owner: "alice", now: t0) }
                var lines: [String] = []
                for limit in limits {
                    for page in try await PlantedNotes.walk(store, owner: "alice", limit: limit) {
                        lines.append(page.notes.map { "\($0.id)@\($0.createdAt)" }.joined(separator: " ") + " → " + (page.next?.encoded ?? "null"))
                    }
                }
                return lines
            }
        }
        let notes = planted.rows.filter { $0.owner == "alice" }.count + createdIDs.count
        #expect(walks[.sqlite]?.count == limits.map { (notes + $0 - 1) / $0 }.reduce(0, +), "every note, in full pages but the last")
        #expect(walks[.sqlite] == walks[.postgres])
    }

    // MARK: PATCH

    @Test(arguments: StoreKind.tested)
    func patchChangesWhatItNamesAndMovesUpdatedAtOnlyOnAChange(kind: StoreKind) async throws {
        let t0 = self.t0
        try await TestDatabase.with(kind) { database in
            let store = try await database.noteStore()
            let note = try await store.create(NoteDraft(title: "é", body: "body"), id: NoteID.generate(), owner: "alice", now: t0)
            func patch(_ patch: NotePatch, at now: Int64) async throws -> Note? {
                try await store.update(id: note.id, owner: "alice", patch: patch, now: now)
            }
            #expect(try await patch(NotePatch(), at: t0 + 5) == note, "PATCH {} returns the note unchanged")
            #expect(try await patch(NotePatch(title: "é", body: "body"), at: t0 + 6) == note, "the same values change nothing")
            let bodyChanged = try #require(try await patch(NotePatch(body: "new"), at: t0 + 7))
            #expect(bodyChanged.title == "é" && bodyChanged.body == "new" && bodyChanged.updatedAt == t0 + 7 && bodyChanged.createdAt == t0)
            let decomposed = try #require(try await patch(NotePatch(title: "e\u{301}"), at: t0 + 8))
            #expect(Array(decomposed.title.utf8) == Array("e\u{301}".utf8), "a canonically equivalent title is still a change")
            #expect(decomposed.updatedAt == t0 + 8)
            let stepBack = try #require(try await patch(NotePatch(title: "later"), at: t0 - 1_000))
            #expect(stepBack.updatedAt == t0 + 8, "updated_at never moves backwards")
            #expect(try await store.note(id: note.id, owner: "alice") == stepBack, "what was answered is what is stored")
        }
    }

    @Test(arguments: StoreKind.tested)
    func concurrentPatchesOfDifferentFieldsLoseNeither(kind: StoreKind) async throws {
        let t0 = self.t0
        try await TestDatabase.with(kind) { database in
            let store = try await database.noteStore()
            var ids: [String] = []
            for index in 0..<10 {
                ids.append(try await store.create(NoteDraft(title: "t\(index)"), id: NoteID.generate(), owner: "alice", now: t0).id)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, id) in ids.enumerated() {
                    group.addTask { _ = try await store.update(id: id, owner: "alice", patch: NotePatch(title: "title \(index)"), now: t0 + 10) }
                    group.addTask { _ = try await store.update(id: id, owner: "alice", patch: NotePatch(body: "body \(index)"), now: t0 + 10) }
                }
                try await group.waitForAll()
            }
            for (index, id) in ids.enumerated() {
                let note = try #require(try await store.note(id: id, owner: "alice"))
                #expect(note.title == "title \(index)" && note.body == "body \(index)", "\(note)")
            }
        }
    }
}

/// Notes written straight into the table: several of one microsecond, with ids whose bytes order differently from
/// a linguistic collation (`-`, digits, upper case, `_`, lower case), and another owner's note at the same time.
struct PlantedNotes {
    struct Row {
        let id: String
        let owner: String
        let createdAt: Int64
    }

    let rows: [Row]

    /// Base64url values of the id's first two characters: `-` 62, `_` 63, `0` 52, `A` 0, `Z` 25, `a` 26, `z` 51, `B` 1, `b` 27.
    static func make() -> PlantedNotes {
        let prefixes: [(UInt8, UInt8)] = [(62, 26), (63, 26), (52, 26), (0, 26), (25, 26), (26, 1), (26, 27), (51, 26), (26, 62)]
        var rows = prefixes.enumerated().map { index, prefix in
            Row(id: id(prefix), owner: "alice", createdAt: index < 7 ? 5_000_000 : 4_000_000 + Int64(index))
        }
        rows.append(Row(id: id((26, 26)), owner: "bob", createdAt: 5_000_000))
        return PlantedNotes(rows: rows)
    }

    /// A well-formed note id starting with the two base64url characters of the given values, random after them.
    private static func id(_ prefix: (UInt8, UInt8)) -> String {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255) }
        bytes[0] = prefix.0 << 2 | prefix.1 >> 4
        bytes[1] = (prefix.1 & 0x0F) << 4 | (bytes[1] & 0x0F)
        return NoteID.encode(bytes: bytes)
    }

    /// Inserts the rows into the notes table of `database` (its store must have been opened).
    func plant(in database: TestDatabase) async throws {
        for row in rows {
            try await database.executeOnNotesDatabase(
                """
                INSERT INTO notes (id, owner, title, body, created_at, updated_at)
                VALUES ('\(row.id)', '\(row.owner)', '\(row.id)', '', \(row.createdAt), \(row.createdAt))
                """
            )
        }
    }

    /// Every page of the owner's notes, each next page from the previous page's cursor as a client sends it back.
    static func walk(_ store: any NoteStore, owner: String, limit: Int) async throws -> [NotePage] {
        var pages: [NotePage] = []
        var after: NoteCursor?
        repeat {
            let page = try await store.page(owner: owner, request: NotePageRequest(limit: limit, after: after))
            pages.append(page)
            after = try page.next.map { try #require(NoteCursor(encoded: $0.encoded)) }
        } while after != nil
        return pages
    }
}
