import AuthStackCore
import AuthStackStorage
import GRDBSQLite
import NIOPosix
import Synchronization

/// Read-only SQLite connections to one database, one per thread that reads through it: for the inline listing, which
/// runs on the event loops (``NotesInlineResponder``).
///
/// GRDB's reader pool hands a connection out under a lock and runs the read through the connection's serial dispatch
/// queue; with both event loops reading at once they met there on every request, and the slow path of
/// `DispatchQueue.sync` (a futex wait and a wake-up) cost more than the query (perf, docs/benchmarks.md). A connection
/// that only its own thread ever touches needs neither: it is found through a thread-specific variable, without a lock.
///
/// The connections are opened read-only and without SQLite's own mutex; in WAL mode a reader never waits for the writer
/// and sees every transaction committed before its statement began. Each closes with this object (the store).
final class ThreadReadConnections: Sendable {
    /// One connection and its prepared statements; used by one thread only.
    final class Connection: @unchecked Sendable {
        fileprivate let handle: OpaquePointer
        private var statements: [String: OpaquePointer] = [:]
        private var closed = false

        fileprivate init(path: String) throws {
            var handle: OpaquePointer?
            let result = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
            guard result == SQLITE_OK, let handle else {
                if let handle { sqlite3_close_v2(handle) }
                throw RawPageQuery.Failure(code: result)
            }
            self.handle = handle
            // A WAL reader waits only while another connection recovers the WAL index: rare and short. The event loop
            // waits at most this long; then the request goes to the router, whose reads wait up to 5 s off the loop.
            sqlite3_busy_timeout(handle, 100)
        }

        /// `sql`, prepared on first use and kept (`SQLITE_PREPARE_PERSISTENT`).
        func statement(_ sql: String) throws -> OpaquePointer {
            if let statement = statements[sql] { return statement }
            var statement: OpaquePointer?
            let result = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
            guard result == SQLITE_OK, let statement else { throw RawPageQuery.Failure(code: result) }
            statements[sql] = statement
            return statement
        }

        fileprivate func close() {
            guard !closed else { return }
            closed = true
            for statement in statements.values { sqlite3_finalize(statement) }
            statements = [:]
            sqlite3_close_v2(handle)
        }
    }

    private let path: String
    private let local = ThreadSpecificVariable<Connection>()
    /// Every connection opened, to close them with the store (a thread's own slot outlives this object).
    private let opened = Mutex<[Connection]>([])

    /// Connections to the database file at `path` (which the store has created and migrated).
    init(path: String) {
        self.path = path
    }

    deinit {
        opened.withLock { connections in
            for connection in connections { connection.close() }
        }
    }

    /// The calling thread's connection, opened on its first use. Not for async code: a task may change threads.
    func current() throws -> Connection {
        if let connection = local.currentValue { return connection }
        let connection = try Connection(path: path)
        opened.withLock { $0.append(connection) }
        local.currentValue = connection
        return connection
    }
}
