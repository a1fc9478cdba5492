import AuthStackStorage
import Foundation
import Logging
import PostgresNIO
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The storage backends every conformance test runs against.
package enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    package var testDescription: String { rawValue }

    /// The kinds this test run covers: both, unless `AUTHSTACK_TEST_POSTGRES=off` opts out of PostgreSQL.
    package static var tested: [StoreKind] { TestPostgres.optedOut ? [.sqlite] : allCases }
}

/// The PostgreSQL server the tests use, and a fresh database on it per test.
///
/// - `AUTHSTACK_TEST_POSTGRES_URL=postgres://user:password@host:port/db`: use that server (the role must be allowed
///   to create databases); nothing is started.
/// - Otherwise the first test that needs PostgreSQL starts a throwaway cluster, once per test process: `initdb` in a
///   temporary directory (as the `postgres` user via `runuser` when running as root), `pg_ctl start` on a free
///   loopback port, password authentication (SCRAM) so the URL's password is exercised. A watchdog process stops the
///   cluster and deletes its directory when the test process ends, however it ends.
/// - Binaries are looked for in `AUTHSTACK_TEST_POSTGRES_BIN` if set (only there), else in
///   `/usr/lib/postgresql/<newest>/bin`, then `PATH`.
///   When there are none, every PostgreSQL case fails with a message saying how to install them; only
///   `AUTHSTACK_TEST_POSTGRES=off` turns the cases off.
package actor TestPostgres {
    package static let shared = TestPostgres()

    /// `CREATE DATABASE` options for a default collation that is not byte order, for tests of ordering.
    package static let icuCollation = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"

    /// `AUTHSTACK_TEST_POSTGRES=off`: run the SQLite cases only.
    package static var optedOut: Bool { ProcessInfo.processInfo.environment["AUTHSTACK_TEST_POSTGRES"] == "off" }

    private var server: Task<(PostgresURL, PostgresConnectionPool), any Error>?

    /// A new, empty database on the test server (started on first use); `options` go to `CREATE DATABASE` (another
    /// default collation, say).
    package func freshDatabase(options: String = "") async throws -> PostgresURL {
        let (url, admin) = try await started()
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        _ = try await admin.rows(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) \(options)"))
        return url.with(database: name)
    }

    /// Drops a test's database (best effort: it matters only on a long-lived server given by URL).
    package func drop(_ database: PostgresURL) async {
        guard let (_, admin) = try? await started() else { return }
        _ = try? await admin.rows(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database.database) WITH (FORCE)"))
    }

    /// Whether the tests started the server themselves (no `AUTHSTACK_TEST_POSTGRES_URL`): its processes are then
    /// this machine's, and a test may signal them.
    package static var startedHere: Bool { ProcessInfo.processInfo.environment["AUTHSTACK_TEST_POSTGRES_URL"] == nil }

    /// The process ids of the backends serving client connections to `database`, seen from another database.
    package func backends(of database: PostgresURL) async throws -> [Int32] {
        let (_, admin) = try await started()
        return try await admin.rows(
            "SELECT pid FROM pg_stat_activity WHERE datname = \(database.database) AND backend_type = 'client backend'"
        ).map { try $0.decode(Int32.self) }
    }

    /// Sends `signal` to each backend of `pids` (SIGSTOP: the server stops answering them without closing anything, as
    /// a hung server or a network partition would look; SIGCONT: it goes on). Only for a server started here, and
    /// only to processes that are PostgreSQL's.
    package static func signal(_ signal: Int32, backends pids: [Int32]) throws {
        guard startedHere else { throw TestPostgresCluster.SetupError(description: "only the test's own PostgreSQL server may be signalled") }
        for pid in pids {
            let command = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
            guard command.hasPrefix("postgres") else { throw TestPostgresCluster.SetupError(description: "\(pid) is not a PostgreSQL process") }
            guard kill(pid, signal) == 0 else { throw TestPostgresCluster.SetupError(description: "kill(\(pid), \(signal)) failed: errno \(errno)") }
        }
    }

    private func started() async throws -> (PostgresURL, PostgresConnectionPool) {
        if server == nil {
            server = Task {
                let url = try await Self.serverURL()
                let admin = PostgresConnectionPool(
                    url: url,
                    logger: .init(label: "test-postgres"),
                    maximumConnections: 4,
                    acquireTimeout: .seconds(TestDatabase.acquireTimeout)
                )
                return (url, admin)
            }
        }
        return try await server!.value
    }

    private static func serverURL() async throws -> PostgresURL {
        if let text = ProcessInfo.processInfo.environment["AUTHSTACK_TEST_POSTGRES_URL"] {
            return try PostgresURL(text, variable: "AUTHSTACK_TEST_POSTGRES_URL")
        }
        return try await TestPostgresCluster.start()
    }
}

/// A throwaway PostgreSQL cluster in a temporary directory (see ``TestPostgres``).
package enum TestPostgresCluster {
    package struct SetupError: Error, CustomStringConvertible {
        package let description: String
    }

    package static func start() async throws -> PostgresURL {
        let bin = try binDirectory()
        let directory = "/tmp/authstack-pg-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let asServerUser = try serverUserPrefix(owning: directory)
        let password = UUID().uuidString
        try password.write(toFile: directory + "/pwfile", atomically: false, encoding: .utf8)
        if !asServerUser.isEmpty { try chownToServerUser(directory + "/pwfile") }
        try await run(
            asServerUser + [
                "\(bin)/initdb", "-D", "\(directory)/data", "-U", "authstack", "--pwfile=\(directory)/pwfile", "-A", "scram-sha-256",
                "-E", "UTF8", "--locale=C", "--no-sync",
            ],
            log: directory + "/initdb.log"
        )
        var lastError: (any Error)?
        for _ in 0..<3 {
            let port = try await freePortForTest()
            let options =
                "-k \(directory) -p \(port) -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off "
                + "-c synchronous_commit=off -c full_page_writes=off"
            do {
                try await run(
                    asServerUser + [
                        "\(bin)/pg_ctl", "-D", "\(directory)/data", "-o", options, "-l", "\(directory)/server.log", "-w", "-t", "30", "start",
                    ],
                    log: directory + "/pg_ctl.log"
                )
                try stopWhenThisProcessEnds(bin: bin, directory: directory, asServerUser: asServerUser)
                return try PostgresURL("postgres://authstack:\(password)@127.0.0.1:\(port)/postgres?sslmode=disable", variable: "test cluster")
            } catch {
                lastError = error  // most likely the port was taken meanwhile: try another
            }
        }
        throw lastError!
    }

    private static func binDirectory() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let bin = environment["AUTHSTACK_TEST_POSTGRES_BIN"] {
            candidates = [bin]  // chosen explicitly: no other installation stands in for it
        } else {
            let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
            candidates += versions.compactMap(Int.init).sorted(by: >).map { "/usr/lib/postgresql/\($0)/bin" }
            candidates += (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        }
        let hasBoth = { (bin: String) in ["initdb", "pg_ctl"].allSatisfy { FileManager.default.isExecutableFile(atPath: "\(bin)/\($0)") } }
        if let found = candidates.first(where: hasBoth) {
            return found
        }
        throw SetupError(
            description: """
                PostgreSQL server binaries (initdb, pg_ctl) not found, so the PostgreSQL storage tests cannot run. \
                Install them (Debian: apt-get install -y postgresql), point AUTHSTACK_TEST_POSTGRES_BIN at their directory, \
                set AUTHSTACK_TEST_POSTGRES_URL to a server, or set AUTHSTACK_TEST_POSTGRES=off to leave the PostgreSQL cases out.
                """
        )
    }

    /// As root, PostgreSQL refuses to run: the cluster belongs to the `postgres` user and its commands run through
    /// `runuser`.
    private static func serverUserPrefix(owning directory: String) throws -> [String] {
        guard getuid() == 0 else { return [] }
        try chownToServerUser(directory)
        let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let runuser else { throw SetupError(description: "running as root, but runuser was not found to start PostgreSQL as postgres") }
        return [runuser, "-u", "postgres", "--"]
    }

    private static func chownToServerUser(_ path: String) throws {
        guard let user = getpwnam("postgres") else {
            throw SetupError(description: "running as root, but there is no postgres user to own the test cluster (install postgresql)")
        }
        guard chown(path, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else { throw SetupError(description: "chown \(path) failed") }
    }

    /// A detached shell that waits for this process to end, then stops the cluster at once and removes its files.
    private static func stopWhenThisProcessEnds(bin: String, directory: String, asServerUser: [String]) throws {
        let stop = (asServerUser + ["\(bin)/pg_ctl", "-D", "\(directory)/data", "-m", "immediate", "stop"]).map { "'\($0)'" }.joined(separator: " ")
        let script = "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(stop); rm -rf '\(directory)'"
        // Its own session, so that a signal to the test's process group leaves it to do its job.
        _ = try spawn(["/usr/bin/setsid", "/bin/sh", "-c", script], log: "/dev/null")
    }

    /// Runs a command to completion, polling for its exit without blocking a thread; its output goes to `log`, quoted
    /// in the error if it fails. (Foundation's `Process` missed the exit of `runuser … pg_ctl` here and waited forever.)
    private static func run(_ arguments: [String], log: String) async throws {
        let pid = try spawn(arguments, log: log)
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            guard result == 0 || errno == EINTR else { throw SetupError(description: "waitpid failed for \(arguments[0])") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited, code == 0 else {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            let command = URL(fileURLWithPath: arguments.first { !$0.hasSuffix("runuser") && $0.hasPrefix("/") } ?? arguments[0]).lastPathComponent
            throw SetupError(description: "\(command) failed (\(exited ? "status \(code)" : "signal \(status & 0x7f)")): \(text.suffix(2_000))")
        }
    }

    /// Makes the child close every descriptor above standard error before it runs its program. SwiftNIO opens its sockets
    /// without close-on-exec, so without this the `postgres` server and the watcher shell (which lives as long as this
    /// process) would inherit the listening and accepted sockets of every service the parallel suite runs at that
    /// moment: a stopped service's port stayed taken, connections to it hung in the backlog, and a connection the server
    /// closed never saw its FIN — the "intermittent" socket failures of earlier full runs.
    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+) closes them all atomically at exec; Swift's Glibc module
    /// does not export it (it is a GNU extension), hence the lookup.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) throws {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else {
            throw SetupError(
                description:
                    "posix_spawn_file_actions_addclosefrom_np is missing (glibc 2.34 or later is needed to start PostgreSQL without leaking the suite's sockets into it)"
            )
        }
        let addCloseFrom = unsafeBitCast(symbol, to: AddCloseFrom.self)
        let result = addCloseFrom(&actions, 3)
        guard result == 0 else {
            throw SetupError(description: "posix_spawn_file_actions_addclosefrom_np failed: \(String(cString: strerror(result)))")
        }
    }

    /// Starts `arguments` with standard input from /dev/null and its output appended to `log`.
    private static func spawn(_ arguments: [String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        try closeInheritedDescriptors(&actions)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        guard result == 0 else { throw SetupError(description: "cannot start \(arguments[0]): \(String(cString: strerror(result)))") }
        return pid
    }
}
