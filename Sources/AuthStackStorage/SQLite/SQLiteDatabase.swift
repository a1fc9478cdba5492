import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// How every service opens its embedded database (docs/design.md §7): one SQLite file in WAL mode through GRDB's
/// `DatabasePool` (readers in parallel with the one writer), a 5 s busy timeout, migrations at start-up.
public enum SQLiteDatabase {
    /// Opens the database at `path`, creating it and its directory if needed, and applies the migrations that have
    /// not run yet (GRDB records them), without blocking the caller's thread.
    ///
    /// The data is private to the service's user (docs/security.md, "Files"): a directory it creates is 0700, and the
    /// database file is created 0600 — or tightened to 0600, with its `-wal` and `-shm`, when it exists with more —
    /// before SQLite opens it, since SQLite gives the `-wal` and `-shm` files the database file's mode.
    public static func open(path: String, migrator: DatabaseMigrator) async throws -> DatabasePool {
        try preparePrivateFiles(path: path)
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

    /// The modes of a database's files: the service's user only.
    public static let fileMode: mode_t = 0o600
    /// The mode of a data directory the service creates.
    public static let directoryMode: mode_t = 0o700

    /// Creates the directory of `path` (0700) and the database file (0600) if missing, and takes group and other
    /// access away from an existing database file and its `-wal` and `-shm`.
    static func preparePrivateFiles(path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: Int(directoryMode)]
            )
        }
        if !FileManager.default.fileExists(atPath: path),
            !FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: Int(fileMode)])
        {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        for file in [path, path + "-wal", path + "-shm"] {
            var status = stat()
            guard stat(file, &status) == 0, status.st_mode & 0o077 != 0 else { continue }
            guard chmod(file, status.st_mode & 0o700) == 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: file]) }
        }
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
