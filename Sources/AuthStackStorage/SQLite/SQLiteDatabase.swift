import AuthStackCore
import Foundation
import GRDB
import Logging
import Synchronization

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

extension DatabasePool {
    /// GRDB's `write`, with a full disk or file system (`SQLITE_FULL`) reported as ``StorageUnavailable`` (`disk_full`:
    /// a 503 with `Retry-After`, not a 500). The transaction is rolled back as any failed one is: nothing is half
    /// written, reads go on, and writes succeed again once there is space. The episode is logged once when it begins
    /// and once when it ends, not per request.
    public func storageWrite<T: Sendable>(_ updates: @Sendable (Database) throws -> T) async throws -> T {
        do {
            let result = try await write(updates)
            DiskFullEpisode.shared.ended()
            return result
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            DiskFullEpisode.shared.began(path: path)
            throw StorageUnavailable(.diskFull)
        }
    }
}

/// Whether this process's SQLite writes are failing for lack of space, so that an episode is logged once.
final class DiskFullEpisode: Sendable {
    static let shared = DiskFullEpisode()
    private let active = Atomic<Bool>(false)
    private let logger = Logger(label: "authstack.storage")

    func began(path: String) {
        guard active.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        logger.error("database out of space; refusing writes with 503 until there is room", metadata: ["database": "\(path)", "cause": "disk_full"])
    }

    func ended() {
        guard active.load(ordering: .relaxed), active.compareExchange(expected: true, desired: false, ordering: .relaxed).exchanged else { return }
        logger.notice("database writes succeed again", metadata: ["cause": "disk_full"])
    }
}
