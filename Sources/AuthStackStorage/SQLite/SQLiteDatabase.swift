import AuthStackStorage
import Foundation
import GRDB

/// How every service opens its embedded database (docs/design.md §7): one SQLite file in WAL mode through GRDB's
/// `DatabasePool` (readers in parallel with the one writer), a 5 s busy timeout, migrations at start-up.
public enum SQLiteDatabase {
    /// Opens the database at `path`, creating it and its directory if needed, and applies the migrations that have
    /// not run yet (GRDB records them), without blocking the caller's thread.
    public static func open(path: String, migrator: DatabaseMigrator) async throws -> DatabasePool {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        let pool = try DatabasePool(path: path, configuration: configuration)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            migrator.asyncMigrate(pool) { result in
                switch result {
                case .success: continuation.resume()
                case .failure(let error): continuation.resume(throwing: error)
                }
            }
        }
        return pool
    }
}

extension Database {
    /// Executes `sql` through the connection's statement cache: compiled — and run through GRDB's authorizer, which
    /// tracks regions — once per connection rather than on every call. On identity's refresh path, compiling each
    /// statement anew was about a fifth of the CPU (perf, docs/benchmarks.md). `sql` must be a single statement.
    public func executeCached(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

extension Row {
    /// `fetchOne(_:sql:arguments:)` through the connection's statement cache (see `Database.executeCached`).
    public static func fetchOneCached(_ db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> Row? {
        try fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }

    /// `fetchAll(_:sql:arguments:)` through the connection's statement cache (see `Database.executeCached`).
    public static func fetchAllCached(_ db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Row] {
        try fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
    }
}
