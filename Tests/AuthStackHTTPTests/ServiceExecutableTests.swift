import AuthStackTestSupport
import Foundation
import KeyServer
import NIOCore
import NIOPosix
import Testing

/// The three service executables as a user runs them (the `ServiceLauncher` they share): `--help` lists every
/// setting the program reads, and docs/configuration.md lists the same ones; `--version` answers; a busy port or a
/// bad argument is one line and an exit status, never a crash with a backtrace. Needs the executables built
/// (`swift build --build-tests` builds them).
@Suite(.timeLimit(.minutes(2))) struct ServiceExecutableTests {
    static let services = [("identity-service", "IDENTITY"), ("notes-service", "NOTES"), ("key-service", "KEYS")]
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Outcome {
        let status: Int32
        let output: String
        let errors: String
    }

    /// Runs the built `executable` with `arguments` and `environment` (added to a minimal one) until it exits.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> Outcome {
        let path = repository.appendingPathComponent(".build/debug/\(executable)").path
        try #require(FileManager.default.isExecutableFile(atPath: path), "build the executables first: swift build --build-tests")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin", "LOG_LEVEL": "error"].merging(environment) { _, new in new }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        return Outcome(
            status: status,
            output: String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            errors: String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        )
    }

    /// The variables docs/configuration.md documents for `prefix` (its `<PREFIX>_…` rows included).
    static func documented(_ prefix: String) throws -> Set<String> {
        let text = try String(contentsOf: repository.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
            .replacingOccurrences(of: "<PREFIX>_", with: "\(prefix)_")
        let names = text.matches(of: /`([A-Z][A-Z0-9_]*[A-Z0-9])`/).map { String($0.output.1) }
        return Set(names.filter { $0.hasPrefix(prefix + "_") || $0 == "LOG_LEVEL" })
    }

    @Test(arguments: services)
    func helpListsEverySettingTheDocsList(executable: String, prefix: String) async throws {
        let help = try await Self.run(executable, ["--help"])
        #expect(help.status == 0)
        #expect(help.output.hasPrefix("usage: \(executable)"))
        let listed = Set(help.output.matches(of: #/(?m)^  ([A-Z][A-Z0-9_]+) /#).map { String($0.output.1) })
        #expect(listed.contains("\(prefix)_PORT") && listed.contains("LOG_LEVEL"))
        #expect(listed == (try Self.documented(prefix)), "docs/configuration.md and --help disagree")
        #expect(help.errors.isEmpty)
    }

    @Test(arguments: services)
    func versionAnswersWithoutStarting(executable: String, prefix: String) async throws {
        let version = try await Self.run(executable, ["--version"])
        #expect(version.status == 0)
        #expect(version.output.hasPrefix("\(executable) "))
    }

    @Test(arguments: services)
    func anUnknownArgumentIsAUsageError(executable: String, prefix: String) async throws {
        let outcome = try await Self.run(executable, ["--port=9"])
        #expect(outcome.status == 2)
        #expect(outcome.errors == "\(executable): unknown argument --port=9 (try --help)\n")
    }

    /// Runs `executable` with a port of 127.0.0.1 already taken, as `<prefix>_<portVariable>` (the other port is any
    /// free one), until it exits; the taken port and the outcome.
    static func runWithPortTaken(_ executable: String, prefix: String, portVariable: String) async throws -> (port: Int, outcome: Outcome) {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(listener.localAddress?.port)
        let keys = try KeyServiceFixture()
        let data = NSTemporaryDirectory() + "busy-\(UUID().uuidString)"
        var environment = [
            "\(prefix)_HOST": "127.0.0.1", "\(prefix)_PORT": "0", "\(prefix)_DATABASE_PATH": data + "/db.sqlite",
            "KEYS_SECRETS_DIR": keys.secrets.path, "\(prefix)_KEYS_TOKEN_FILE": keys.secrets.path + "/notes.token",
            // A cheap scrypt: identity derives a dummy hash at start, and OWASP's 128 MiB one takes CPU the rest of the
            // suite, running at the same time, needs.
            "\(prefix)_KEYS_URL": "http://127.0.0.1:9", "IDENTITY_SCRYPT_LOG_N": "10",
        ]
        environment["\(prefix)_\(portVariable)"] = String(port)
        let outcome = try await run(executable, [], environment: environment)
        try await listener.close()
        return (port, outcome)
    }

    /// identity-service and key-service used to die of SIGILL here with a 138-line backtrace.
    @Test(arguments: services)
    func aBusyPortIsOneLineNamingTheAddressAndTheSetting(executable: String, prefix: String) async throws {
        let (port, outcome) = try await Self.runWithPortTaken(executable, prefix: prefix, portVariable: "PORT")
        #expect(outcome.status == 1, "\(outcome.errors)")
        #expect(outcome.errors.hasPrefix("\(executable): cannot listen on 127.0.0.1:\(port): the address is in use (set \(prefix)_PORT"))
        #expect(outcome.errors.split(separator: "\n").count == 1, "one line, no backtrace: \(outcome.errors)")
    }

    @Test(arguments: services)
    func aBusyMetricsPortNamesTheMetricsSettings(executable: String, prefix: String) async throws {
        let (port, outcome) = try await Self.runWithPortTaken(executable, prefix: prefix, portVariable: "METRICS_PORT")
        #expect(outcome.status == 1, "\(outcome.errors)")
        #expect(
            outcome.errors
                == "\(executable): cannot listen on 127.0.0.1:\(port): the address is in use (set \(prefix)_METRICS_PORT or \(prefix)_METRICS_HOST)\n"
        )
    }
}
