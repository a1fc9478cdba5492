import AuthStackCore
import AuthStackStorage
import Foundation
import GRDB
import Logging
import PostgresNIO
import Synchronization
import Testing

/// One test's database of one kind, a fresh SQLite directory or a fresh PostgreSQL database, on which the test opens
/// as many stores as it likes (a reopened service, replicas) through the services' own `openStore` functions (each
/// service's test target adds its `…Store()` opener). ``with(_:postgresOptions:_:)`` closes every connection pool they
/// opened when the test ends.
package final class TestDatabase: Sendable {
    package let kind: StoreKind
    /// A directory for the SQLite files.
    package let directory: String
    /// The PostgreSQL database, for `.postgres`.
    package let url: PostgresURL?
    private let pools = Mutex<[PostgresConnectionPool]>([])
    package static let logger = Logger(label: "test-storage", factory: { _ in SwiftLogNoOpLogHandler() })

    private init(kind: StoreKind, postgresOptions: String) async throws {
        self.kind = kind
        directory = NSTemporaryDirectory() + "store-\(UUID().uuidString)"
        url = kind == .postgres ? try await TestPostgres.shared.freshDatabase(options: postgresOptions) : nil
    }

    /// Runs `body` on a fresh database of `kind` (PostgreSQL's created with `postgresOptions`), then closes the stores'
    /// pools.
    package static func with<Result>(
        _ kind: StoreKind,
        postgresOptions: String = "",
        _ body: (TestDatabase) async throws -> Result
    ) async throws -> Result {
        let database = try await TestDatabase(kind: kind, postgresOptions: postgresOptions)
        do {
            let result = try await body(database)
            await database.closeAll()
            return result
        } catch {
            await database.closeAll()
            throw error
        }
    }

    /// The database settings a service uses for this database: the SQLite file `file` in ``directory``, or the
    /// PostgreSQL database.
    package func settings(file: String) -> DatabaseSettings {
        var settings = DatabaseSettings(path: directory + "/" + file, url: url)
        settings.acquireTimeout = Self.acquireTimeout
        // The suite opens pools by the dozen at once on one server: none keeps idle connections.
        settings.poolMinimum = 0
        return settings
    }

    /// The tests' wait for a PostgreSQL connection: the whole suite runs at once on two cores, where making a
    /// connection can take longer than a service's 1 s. An outage is still answered at once: a failed connection
    /// attempt refuses the waiting callers whatever this says.
    package static let acquireTimeout: Double = 30

    /// Opens a store as a service does (`open` is its `openStore`), and closes its pool with the others.
    package func adopt<Store>(_ opened: OpenedStore<Store>) -> Store {
        adopt(opened.pool)
        return opened.store
    }

    /// Runs `sql` (written so that both SQLite and PostgreSQL take it) on the database behind the store's back, the
    /// SQLite file `file` on SQLite, for tests that plant rows or break the schema.
    package func execute(_ sql: String, sqliteFile file: String) async throws {
        switch kind {
        case .sqlite:
            let queue = try DatabaseQueue(path: settings(file: file).path)
            try await queue.write { try $0.execute(sql: sql) }
        case .postgres:
            try await postgresPool().rows(PostgresQuery(unsafeSQL: sql))
        }
    }

    /// The rows of `table` as text, for tests that look for secrets stored in the clear (PostgreSQL only: SQLite tests
    /// read the file).
    package func postgresRowsAsText(_ table: String) async throws -> String {
        try await postgresPool().rows(PostgresQuery(unsafeSQL: "SELECT t::text FROM \(table) t")).map { try $0.decode(String.self) }.joined()
    }

    /// A pool of `maximumConnections` on this PostgreSQL database, waiting the suite's long acquire timeout, closed
    /// with the others.
    package func postgresPool(maximumConnections: Int = 1) throws -> PostgresConnectionPool {
        let pool = PostgresConnectionPool(
            url: try #require(url),
            logger: Self.logger,
            maximumConnections: maximumConnections,
            acquireTimeout: .seconds(Self.acquireTimeout)
        )
        adopt(pool)
        return pool
    }

    private func adopt(_ pool: PostgresConnectionPool?) {
        if let pool { pools.withLock { $0.append(pool) } }
    }

    private func closeAll() async {
        for pool in pools.withLock({ $0 }) { await pool.close() }
        if let url { await TestPostgres.shared.drop(url) }
    }
}
