import AuthStackHTTP
import AuthStackStorage
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Synchronization
import Testing

@testable import NotesServer

/// Notes-service instances on one PostgreSQL database (docs/design.md §7): they share one set of notes, start together
/// without migrating twice, and keep one owner's creation times unique across instances; the listing walks its index
/// without sorting; `/readyz` follows the database.
@Suite(.enabled(if: !TestPostgres.optedOut, "AUTHSTACK_TEST_POSTGRES=off"), .timeLimit(.minutes(2)))
struct NotesOnPostgresTests {
    private typealias HTTP = NotesHTTP

    @Test func aNoteWrittenThroughOneInstanceIsReadListedUpdatedAndDeletedThroughTheOther() async throws {
        try await TestDatabase.with(.postgres) { database in
            let fixture = NotesFixture().on(database)
            let alice = fixture.token()
            let bob = fixture.token(for: "user-bob")
            try await fixture.application().test(.live) { first in
                try await fixture.application().test(.live) { second in
                    for client in [first, second] { #expect(try await client.execute(uri: "/readyz", method: .get).status == .ok) }
                    let created = try await HTTP.create(first, token: alice, title: "shared", body: "one")
                    let id = try #require(created["id"] as? String)
                    fixture.clock.advance(1)
                    try await HTTP.create(second, token: alice, title: "second")

                    let read = try HTTP.object(try await second.execute(uri: "/notes/\(id)", method: .get, headers: HTTP.bearer(alice)))
                    for field in ["id", "title", "body", "created_at", "updated_at"] {
                        #expect(read[field] as? String == created[field] as? String, "\(field)")
                    }
                    for client in [first, second] {
                        let titles = try await HTTP.listAll(client, token: alice, limit: 1).compactMap { $0["title"] as? String }
                        #expect(titles == ["second", "shared"])
                        #expect(try await client.execute(uri: "/notes/\(id)", method: .get, headers: HTTP.bearer(bob)).status == .notFound)
                    }

                    fixture.clock.advance(1)
                    let patched = try await second.execute(
                        uri: "/notes/\(id)",
                        method: .patch,
                        headers: HTTP.jsonHeaders(alice),
                        body: HTTP.body(#"{"title":"edited"}"#)
                    )
                    #expect(patched.status == .ok)
                    let reread = try HTTP.object(try await first.execute(uri: "/notes/\(id)", method: .get, headers: HTTP.bearer(alice)))
                    #expect(reread["title"] as? String == "edited" && reread["body"] as? String == "one")
                    #expect(reread["created_at"] as? String == NotesFixture.startTimestamp)
                    #expect(reread["updated_at"] as? String == "2027-01-15T08:00:02.000000Z")

                    #expect(try await first.execute(uri: "/notes/\(id)", method: .delete, headers: HTTP.bearer(alice)).status == .noContent)
                    #expect(try await second.execute(uri: "/notes/\(id)", method: .get, headers: HTTP.bearer(alice)).status == .notFound)
                    #expect(try await second.execute(uri: "/notes/\(id)", method: .delete, headers: HTTP.bearer(alice)).status == .notFound)
                    let left = try await HTTP.listAll(second, token: alice, limit: 20).compactMap { $0["title"] as? String }
                    #expect(left == ["second"])
                }
            }
        }
    }

    @Test func instancesStartingTogetherMigrateOnce() async throws {
        try await TestDatabase.with(.postgres) { database in
            let stores = try await withThrowingTaskGroup(of: (any NoteStore).self) { group in
                for _ in 0..<4 { group.addTask { try await database.noteStore() } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let applied = try await database.postgresRowsAsText("(SELECT component, version FROM authstack_schema_migrations ORDER BY 1, 2)")
            #expect(applied == "(notes,1)")
            for (index, store) in stores.enumerated() {
                let draft = NoteDraft(title: "from \(index)")
                _ = try await store.create(draft, id: NoteID.generate(), owner: "alice", now: NoteStoreConformanceTests.t0)
            }
            for store in stores { #expect(try await store.page(owner: "alice", request: NotePageRequest()).notes.count == 4) }
        }
    }

    @Test func createsOfOneOwnerThroughTwoInstancesAtOnceGetDistinctTimes() async throws {
        let t0 = NoteStoreConformanceTests.t0
        try await TestDatabase.with(.postgres) { database in
            let instances = [try await database.noteStore(), try await database.noteStore()]
            let times = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<30 {
                    group.addTask {
                        try await instances[index % 2].create(NoteDraft(title: "c\(index)"), id: NoteID.generate(), owner: "alice", now: t0).createdAt
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(times.sorted() == Array(t0..<t0 + 30), "the owner lock holds across instances")
        }
    }

    @Test func listingQueriesWalkTheOwnerIndexWithoutSorting() async throws {
        try await TestDatabase.with(.postgres) { database in
            _ = try await database.noteStore()
            let pool = try database.postgresPool()
            let cursor = NoteCursor(after: Note(id: NoteID.generate(), title: "", body: "", createdAt: 5, updatedAt: 5))
            let queries: [(query: PostgresQuery, startsAtCursor: Bool)] = [
                (PostgresNoteStore.firstPage(owner: "alice", limit: 21), false),
                (PostgresNoteStore.page(owner: "alice", after: cursor, limit: 21), true),
                (PostgresNoteStore.newest(owner: "alice"), false),
            ]
            for (query, startsAtCursor) in queries {
                // With sorting priced out, a plan still sorts if the index cannot give the order.
                let plan = try await pool.transaction { connection in
                    try await connection.rows("SET LOCAL enable_sort = off")
                    return try await connection.rows(PostgresQuery(unsafeSQL: "EXPLAIN " + query.sql, binds: query.binds))
                        .map { try $0.decode(String.self) }.joined(separator: "\n")
                }
                #expect(plan.contains("using notes_by_owner_newest_first"), "\(plan)")
                #expect(!plan.contains("Sort"), "\(plan)")
                let indexCondition = plan.split(separator: "\n").first { $0.contains("Index Cond") } ?? ""
                #expect(indexCondition.contains("owner ="), "\(plan)")
                if startsAtCursor {
                    #expect(indexCondition.contains("ROW(created_at, id) < ROW("), "the scan starts at the cursor: \(plan)")
                }
            }
        }
    }

    /// An outage is answered at once (issue 23): with the database refusing connections, a request that needs it gets
    /// 503 with `Retry-After` after at most the acquire timeout (1 s), and the next ones at once, instead of hanging for
    /// a minute and then answering 500. What needs no database goes on: a bad token is still 401, `/healthz` is 200.
    /// The service serves again once the database does.
    @Test func anOutageIsAnswered503AtOnceAndTheServiceComesBack() async throws {
        try await TestDatabase.with(.postgres) { database in
            let fixture = NotesFixture().on(database)
            let token = fixture.token()
            let outage = DatabaseOutage(try #require(database.url))
            let ended: Void? = try await finished(within: .seconds(60)) {
                try await fixture.application().test(.router) { client in
                    #expect(try await client.execute(uri: "/notes", method: .get, headers: NotesHTTP.bearer(token)).status == .ok)
                    try await outage.begin()
                    for attempt in 0..<3 {
                        let answer: TestResponse? = try await finished(within: .seconds(10)) {
                            try await client.execute(uri: "/notes", method: .get, headers: NotesHTTP.bearer(token))
                        }
                        let response = try #require(answer, "GET /notes hung during the outage (attempt \(attempt))")
                        #expect(response.status == .serviceUnavailable, "attempt \(attempt)")
                        #expect(response.headers[.retryAfter] == "1")
                        #expect(try NotesHTTP.problemCode(response) == "service_unavailable")
                    }
                    var write = NotesHTTP.bearer(token)
                    write[.contentType] = "application/json"
                    let created = try await client.execute(uri: "/notes", method: .post, headers: write, body: NotesHTTP.body(#"{"title":"x"}"#))
                    #expect(created.status == .serviceUnavailable, "a write is refused the same way, never a 500")
                    #expect(try await client.execute(uri: "/notes", method: .get, headers: NotesHTTP.bearer("not-a-token")).status == .unauthorized)
                    #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
                    #expect(try await client.execute(uri: "/readyz", method: .get).status == .serviceUnavailable)
                    try await outage.end()
                    var status = HTTPResponse.Status.serviceUnavailable
                    for _ in 0..<80 where status != .ok {
                        status = try await client.execute(uri: "/notes", method: .get, headers: NotesHTTP.bearer(token)).status
                        if status != .ok { try await Task.sleep(for: .milliseconds(250)) }
                    }
                    #expect(status == .ok, "serving again within 20 s of the database accepting connections")
                }
            }
            #expect(ended != nil, "the outage test did not finish within 60 s")
            try? await outage.end()
            await outage.close()
        }
    }

    /// The database refuses new connections and ends the current ones, then accepts them again. The pool's idle
    /// connection is closed by the server at the moment `/readyz` borrows it; that race once left the statement waiting
    /// forever (see `PostgresConnectionLossTests`), so the whole test runs under a bounded wait.
    @Test func readinessFollowsTheDatabaseGoingAwayAndComingBack() async throws {
        try await TestDatabase.with(.postgres) { database in
            let fixture = NotesFixture().on(database)
            // The database refuses new connections and its current ones end; it is still there, so the pool's
            // reconnection succeeds once it accepts them again (a dropped database would leave the pool retrying).
            let url = try #require(database.url)
            let outage = DatabaseOutage(url)
            let ended: Void? = try await finished(within: .seconds(90)) {
                try await fixture.application().test(.router) { client in
                    #expect(try await client.execute(uri: "/readyz", method: .get).status == .ok)
                    try await outage.begin()
                    let started = ContinuousClock.now
                    let response = try await client.execute(uri: "/readyz", method: .get)
                    #expect(response.status == .serviceUnavailable)
                    #expect(String(buffer: response.body).contains("database"))
                    #expect(ContinuousClock.now - started < .seconds(4), "the check is bounded to 2 s")
                    try await outage.end()
                    var ready = false
                    for _ in 0..<40 where !ready {
                        ready = try await client.execute(uri: "/readyz", method: .get).status == .ok
                        if !ready { try await Task.sleep(for: .milliseconds(250)) }
                    }
                    #expect(ready, "ready again within 10 s of the database accepting connections")
                }
            }
            #expect(ended != nil, "the test or the service's shutdown did not finish within 90 s")
            await outage.close()
        }
    }

    /// A service whose database refuses connections still stops, promptly: a request waiting for a connection ends
    /// when the pool closes, and closing does not wait for the server.
    @Test func theServiceStopsWhileItsDatabaseRefusesConnections() async throws {
        try await TestDatabase.with(.postgres) { database in
            let fixture = NotesFixture().on(database)
            let token = fixture.token()
            let url = try #require(database.url)
            let outage = DatabaseOutage(url)
            let waiting = Mutex<Task<HTTPResponse.Status, any Error>?>(nil)
            let ended: Void? = try await finished(within: .seconds(30)) {
                try await fixture.application().test(.router) { client in
                    #expect(try await client.execute(uri: "/readyz", method: .get).status == .ok)
                    try await outage.begin()
                    // Still waiting for a connection when the service stops.
                    waiting.withLock { $0 = Task { try await client.execute(uri: "/notes", method: .get, headers: NotesHTTP.bearer(token)).status } }
                    try await Task.sleep(for: .milliseconds(300))
                }
            }
            #expect(ended != nil, "the service did not stop within 30 s of being asked to")
            if let request = waiting.withLock({ $0 }) {
                let outcome = try await finished(within: .seconds(10)) { await request.result }
                #expect(outcome != nil, "the request waiting for a connection did not end when the service stopped")
            }
            try await outage.end()
            await outage.close()
        }
    }

    /// A database that stops answering without closing anything (its backends stopped: what a hung server or a
    /// network partition looks like from here): `/readyz` still answers 503 within its bound, although the statement
    /// it sent never gets an answer and postgres-nio does not give up on it when cancelled, and the service still stops.
    @Test(.enabled(if: TestPostgres.startedHere, "stops backends of the test's own PostgreSQL server"))
    func readinessAndShutdownEndWhileTheDatabaseStopsAnswering() async throws {
        try await TestDatabase.with(.postgres) { database in
            let fixture = NotesFixture().on(database)
            let url = try #require(database.url)
            let stopped = Mutex<[Int32]>([])
            let ended: Void? = try await finished(within: .seconds(60)) {
                try await fixture.application().test(.router) { client in
                    #expect(try await client.execute(uri: "/readyz", method: .get).status == .ok)
                    let backends = try await TestPostgres.shared.backends(of: url)
                    try #require(!backends.isEmpty, "the pool keeps its connection open")
                    stopped.withLock { $0 = backends }
                    try TestPostgres.signal(SIGSTOP, backends: backends)
                    let started = ContinuousClock.now
                    let response = try await client.execute(uri: "/readyz", method: .get)
                    #expect(response.status == .serviceUnavailable)
                    #expect(ContinuousClock.now - started < .seconds(4), "the check is bounded to 2 s")
                }
            }
            // Always let the backends go on, whatever happened above: a stopped backend would hold the database.
            try TestPostgres.signal(SIGCONT, backends: stopped.withLock { $0 })
            #expect(ended != nil, "/readyz or the service's shutdown did not end while the database did not answer")
        }
    }

    /// A one-connection pool on the server's `postgres` database: PostgreSQL will not close the database a session is
    /// connected to.
}
