import AuthStackCore
import AuthStackService
import Foundation
import GRDB
import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import IdentityServer
@testable import KeyService
@testable import NotesService

/// One test's database of one kind, a fresh SQLite directory or a fresh PostgreSQL database, on which the test opens
/// as many stores as it likes (a reopened service, replicas) through the services' own `make…Store` functions.
/// ``with(_:_:)`` closes every connection pool they opened when the test ends.
final class TestDatabase: Sendable {
    let kind: StoreKind
    /// A directory for the SQLite files.
    let directory: String
    /// The PostgreSQL database, for `.postgres`.
    let url: PostgresURL?
    private let pools = Mutex<[PostgresConnectionPool]>([])
    static let logger = Logger(label: "test-storage", factory: { _ in SwiftLogNoOpLogHandler() })

    private init(kind: StoreKind, postgresOptions: String) async throws {
        self.kind = kind
        directory = NSTemporaryDirectory() + "store-\(UUID().uuidString)"
        url = kind == .postgres ? try await TestPostgres.shared.freshDatabase(options: postgresOptions) : nil
    }

    /// Runs `body` on a fresh database of `kind` (PostgreSQL's created with `postgresOptions`), then closes the stores'
    /// pools.
    static func with<Result>(
        _ kind: StoreKind, postgresOptions: String = "", _ body: (TestDatabase) async throws -> Result
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

    /// A key-service configuration that selects this database.
    var keyConfiguration: KeyServiceConfiguration {
        var configuration = KeyServiceConfiguration()
        configuration.databasePath = directory + "/keys.sqlite"
        configuration.databaseURL = url
        return configuration
    }

    /// Opens a key store on this database, as the key service does.
    func keyStore() async throws -> any KeyStore {
        let storage = try await makeKeyStore(configuration: keyConfiguration, logger: Self.logger)
        adopt(storage.pool)
        return storage.store
    }

    /// A key manager on a store of its own: one key-service replica.
    func keyReplica(sealer: KeySealer, policy: KeyLifecyclePolicy, clock: @escaping @Sendable () -> Date) async throws -> KeyManager {
        try await KeyManager.start(store: try await keyStore(), sealer: sealer, policy: policy, clock: clock)
    }

    /// Opens an identity store on this database, as the identity service does.
    func identityStore() async throws -> any IdentityStore {
        var configuration = IdentityConfiguration()
        configuration.databasePath = directory + "/identity.sqlite"
        configuration.databaseURL = url
        let storage = try await makeIdentityStore(configuration: configuration, logger: Self.logger)
        adopt(storage.pool)
        return storage.store
    }

    /// A notes-service configuration that selects this database.
    var notesConfiguration: NotesServiceConfiguration {
        var configuration = NotesServiceConfiguration()
        configuration.databasePath = directory + "/notes.sqlite"
        configuration.databaseURL = url
        return configuration
    }

    /// Opens a note store on this database, as the notes service does.
    func noteStore() async throws -> any NoteStore {
        let storage = try await makeNoteStore(configuration: notesConfiguration, logger: Self.logger)
        adopt(storage.pool)
        return storage.store
    }

    /// Runs `sql` (written so that both SQLite and PostgreSQL take it) on the notes database behind the store's back,
    /// for tests that plant rows or break the schema.
    func executeOnNotesDatabase(_ sql: String) async throws {
        switch kind {
        case .sqlite:
            let queue = try DatabaseQueue(path: notesConfiguration.databasePath)
            try await queue.write { try $0.execute(sql: sql) }
        case .postgres:
            try await postgresPool().rows(PostgresQuery(unsafeSQL: sql))
        }
    }

    /// The rows of `table` as text, for tests that look for secrets stored in the clear (PostgreSQL only: SQLite tests
    /// read the file).
    func postgresRowsAsText(_ table: String) async throws -> String {
        try await postgresPool().rows(PostgresQuery(unsafeSQL: "SELECT t::text FROM \(table) t")).map { try $0.decode(String.self) }.joined()
    }

    /// A one-connection pool on this PostgreSQL database, closed with the others.
    func postgresPool() throws -> PostgresConnectionPool {
        let pool = PostgresConnectionPool(url: try #require(url), logger: Self.logger, maximumConnections: 1)
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
