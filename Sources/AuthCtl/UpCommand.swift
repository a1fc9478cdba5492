import KeyServer
import ArgumentParser
import AsyncHTTPClient
import AuthStackCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `authctl up`: the whole stack on this machine, one process per service, on SQLite with generated secrets
/// (DESIGN.md §9).
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start the key, identity and notes services locally (SQLite, secrets in keys/) and stop them on Ctrl-C.",
        discussion: """
            Runs `authctl init` first when keys/ holds no secrets. Waits until every service's /readyz answers 200, prints \
            the URLs and a curl walk-through, and streams each service's log lines with its name in front. Ctrl-C or \
            SIGTERM stops all three; if one of them exits on its own, the others are stopped too and authctl exits 1. \
            A gateway in this process puts the demo web client (web/, at /app/) and both APIs on one origin, as the \
            compose gateway does: /notes… to notes, /v1/… refused, everything else to identity.
            """
    )

    @Option(name: .customLong("keys-dir"), help: "Directory with master.key and the client tokens.")
    var keysDirectory = "keys"

    @Option(name: .customLong("data-dir"), help: "Directory for the SQLite databases.")
    var dataDirectory = "data"

    @Option(help: "Address the services listen on.")
    var host = "127.0.0.1"

    @Option(name: .customLong("identity-port")) var identityPort = 8081
    @Option(name: .customLong("notes-port")) var notesPort = 8082
    @Option(name: .customLong("keys-port")) var keysPort = 8083
    @Option(name: .customLong("gateway-port"), help: "Port of the gateway that serves the web client at /app/ and proxies the APIs.")
    var gatewayPort = 8080

    @Option(name: .customLong("web-root"), help: "Directory with the web client (default: web/ here or in the package that holds authctl).")
    var webRoot: String?

    @Option(name: .customLong("bin-dir"), help: "Directory with the service binaries (default: next to authctl).")
    var binaryDirectory: String?

    @Flag(
        name: .customLong("secure-cookies"),
        help: "Keep `Secure` on the refresh cookie (needs HTTPS, or a browser on 127.0.0.1/localhost, which counts as secure).")
    var secureCookies = false

    @Option(name: .customLong("log-level"), help: "LOG_LEVEL for the services.")
    var logLevel = "info"

    @Option(help: "Seconds to wait for every service to become ready.")
    var timeout = 120

    struct Service {
        let name: String
        let binary: String
        let port: Int
        let environment: [String: String]
    }

    var services: [Service] {
        let directory = binaryDirectory ?? Bundle.main.executableURL?.deletingLastPathComponent().path ?? "."
        let keysURL = "http://\(Self.urlHost(host)):\(keysPort)"
        return [
            Service(name: "keys", binary: directory + "/key-service", port: keysPort, environment: [
                "KEYS_HOST": host, "KEYS_PORT": String(keysPort), "KEYS_DATABASE_PATH": dataDirectory + "/keys.sqlite",
                "KEYS_SECRETS_DIR": keysDirectory,
            ]),
            Service(name: "identity", binary: directory + "/identity-service", port: identityPort, environment: [
                "IDENTITY_HOST": host, "IDENTITY_PORT": String(identityPort), "IDENTITY_DATABASE_PATH": dataDirectory + "/identity.sqlite",
                "IDENTITY_KEYS_URL": keysURL, "IDENTITY_KEYS_TOKEN_FILE": keysDirectory + "/identity.token",
                "IDENTITY_COOKIE_SECURE": secureCookies ? "true" : "false",
                "IDENTITY_TRUSTED_PROXIES": Self.gatewaySourceAddresses(host: host),
            ]),
            Service(name: "notes", binary: directory + "/notes-service", port: notesPort, environment: [
                "NOTES_HOST": host, "NOTES_PORT": String(notesPort), "NOTES_DATABASE_PATH": dataDirectory + "/notes.sqlite",
                "NOTES_KEYS_URL": keysURL, "NOTES_KEYS_TOKEN_FILE": keysDirectory + "/notes.token",
            ]),
        ]
    }

    static func urlHost(_ host: String) -> String {
        if host == "0.0.0.0" { return "127.0.0.1" }
        if host == "::" { return "[::1]" }
        return host.contains(":") ? "[\(host)]" : host
    }

    func validate() throws {
        for port in [identityPort, notesPort, keysPort, gatewayPort] where !(1...65535).contains(port) {
            throw ValidationError("port \(port) is out of range")
        }
        guard Set([identityPort, notesPort, keysPort, gatewayPort]).count == 4 else {
            throw ValidationError("the three services and the gateway need four different ports")
        }
    }

    func run() async throws {
        let services = self.services
        for service in services where !FileManager.default.isExecutableFile(atPath: service.binary) {
            throw CommandFailure("\(service.binary) is missing: build the services first (`swift build`), or pass --bin-dir")
        }
        let webRoot = try Self.locateWebRoot(
            explicit: self.webRoot, currentDirectory: FileManager.default.currentDirectoryPath, executable: Bundle.main.executableURL)
        for (name, port) in [("gateway", gatewayPort)] + services.map({ ($0.name, $0.port) }) {
            if let problem = Self.portProblem(host: host, port: port) {
                let what = name == "gateway" ? "the gateway" : "the \(name) service"
                throw CommandFailure("port \(port) for \(what) is \(problem); stop what uses it or pass --\(name)-port")
            }
        }
        try prepareSecrets()
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)

        let supervisor = Supervisor()
        supervisor.watchSignals()
        for service in services {
            try supervisor.start(service, logLevel: logLevel)
        }
        let gateway = GatewayRunner(host: host, port: gatewayPort, webRoot: webRoot, upstreams: gatewayUpstreams, supervisor: supervisor)
        let h = Self.urlHost(host)
        let checks = services.map { (name: $0.name, url: "http://\(h):\($0.port)/readyz") }
            + [(name: "gateway", url: "http://\(h):\(gatewayPort)/app/")]
        let readiness = Task {
            do {
                try await waitUntilReady(checks)
                supervisor.post(.ready)
            } catch let error as NotReady {
                supervisor.post(.notReady(error.message))
            } catch {}
        }
        defer { readiness.cancel() }
        var ready = false
        for await event in supervisor.events {
            switch event {
            case .ready:
                ready = true
                printBanner()
                continue
            case .signal:
                say("authctl: stopping the services…")
                await gateway.stop()
                supervisor.stopAll()
                return
            case .exited(let name, let status):
                await gateway.stop()
                supervisor.stopAll()
                throw CommandFailure("the \(name) service exited \(ready ? "" : "during start-up ")(status \(status)); its log is above. Stopped the others.")
            case .notReady(let message):
                await gateway.stop()
                supervisor.stopAll()
                throw CommandFailure(message)
            }
        }
    }

    private func prepareSecrets() throws {
        let directory = SecretsDirectory(path: keysDirectory)
        let names = ["master.key"] + SecretsDirectory.clients.map { "\($0.name).token" }
        let present = names.filter { FileManager.default.fileExists(atPath: keysDirectory + "/" + $0) }
        if present.isEmpty {
            do {
                for path in try directory.initialize(force: false) { say("authctl: wrote \(path)") }
            } catch {
                throw CommandFailure(error.description)
            }
        } else if present.count < names.count {
            let missing = Set(names).subtracting(present).sorted()
            throw CommandFailure("\(keysDirectory)/ lacks \(missing.joined(separator: ", ")); restore it or regenerate all with `authctl init --force` (this makes stored keys unreadable)")
        }
    }

    /// Polls each (name, URL) until it answers 200: the services' `/readyz`, the gateway's `/app/`.
    private func waitUntilReady(_ checks: [(name: String, url: String)]) async throws {
        let deadline = ContinuousClock.now + .seconds(timeout)
        var waiting = checks
        while !waiting.isEmpty {
            try Task.checkCancellation()
            var still: [(name: String, url: String)] = []
            for check in waiting {
                let ready = (try? await HTTPClient.shared.execute(HTTPClientRequest(url: check.url), timeout: .seconds(2)).status.code) == 200
                if !ready { still.append(check) }
            }
            waiting = still
            if waiting.isEmpty { return }
            guard ContinuousClock.now < deadline else {
                throw NotReady(message: "not ready after \(timeout) s: \(waiting.map(\.name).joined(separator: ", ")); see the log above")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    struct NotReady: Error { let message: String }

    private func printBanner() {
        let h = Self.urlHost(host)
        say("""

            AuthStack is up.
              identity  http://\(h):\(identityPort)   (signup, login, refresh, logout, me, sessions)
              notes     http://\(h):\(notesPort)   (/notes)
              keys      http://\(h):\(keysPort)   (internal; admin: authctl keys list|rotate|revoke)
              gateway   http://\(h):\(gatewayPort)   (one origin: /app/ web client, /notes… notes, the rest identity)
              data in \(dataDirectory)/, secrets in \(keysDirectory)/

            Demo web client: http://\(h):\(gatewayPort)/app/

            Try it:
              curl -s -c cookies.txt -X POST http://\(h):\(identityPort)/signup -H 'Content-Type: application/json' \\
                   -d '{"username":"ada","password":"correct horse battery staple"}' | tee signup.json
              ACCESS=$(jq -r .access_token signup.json)
              curl -s http://\(h):\(identityPort)/me -H "Authorization: Bearer $ACCESS"
              curl -s -X POST http://\(h):\(notesPort)/notes -H "Authorization: Bearer $ACCESS" \\
                   -H 'Content-Type: application/json' -d '{"title":"first note","body":"hello"}'
              curl -s http://\(h):\(notesPort)/notes -H "Authorization: Bearer $ACCESS"
              curl -s -b cookies.txt -c cookies.txt -X POST http://\(h):\(identityPort)/refresh
              curl -s -b cookies.txt -c cookies.txt -X POST http://\(h):\(identityPort)/logout -i

            Ctrl-C stops all three and the gateway.

            """)
    }

    /// Why `port` cannot be used on `host`, or nil when a listener could bind it now.
    static func portProblem(host: String, port: Int) -> String? {
        do {
            let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).wait()
            try channel.close().wait()
            return nil
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            return "in use"
        } catch {
            return "unusable (\(error))"
        }
    }
}

/// Starts the service processes, prefixes their output, and stops them all.
final class Supervisor: @unchecked Sendable {
    enum Event: Sendable {
        case ready
        case exited(name: String, status: Int32)
        case signal
        case notReady(String)
    }

    private let lock = NSLock()
    private var processes: [(name: String, process: Process)] = []
    private var stopping = false
    private var continuation: AsyncStream<Event>.Continuation?
    /// Every event, for one consumer: readiness, a service's exit, a signal.
    let events: AsyncStream<Event>
    private var signalSources: [any DispatchSourceSignal] = []

    init() {
        var continuation: AsyncStream<Event>.Continuation?
        events = AsyncStream { continuation = $0 }
        self.continuation = continuation
    }

    /// SIGINT and SIGTERM become events instead of killing authctl before its children.
    func watchSignals() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in self?.post(.signal) }
            source.resume()
            signalSources.append(source)
        }
    }

    func post(_ event: Event) { continuation?.yield(event) }

    func start(_ service: UpCommand.Service, logLevel: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: service.binary)
        var environment = ProcessInfo.processInfo.environment
        environment.merge(service.environment) { $1 }
        environment["LOG_LEVEL"] = logLevel
        // The services stop themselves if authctl dies without stopping them (no orphans even after SIGKILL).
        environment["AUTHSTACK_EXIT_WITH_PARENT"] = "1"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let prefix = service.name.padding(toLength: 8, withPad: " ", startingAt: 0) + " | "
        // A thread of our own reads the pipe with read(2): FileHandle's readability handler and `availableData`
        // end the process with a fatal error on a read error, and a supervisor must outlive its children's quirks.
        let descriptor = pipe.fileHandleForReading.fileDescriptor
        Thread.detachNewThread {
            let lines = LineSplitter()
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count > 0 {
                    for line in lines.feed(Data(buffer[0..<count]), final: false) { writeLine(prefix, line) }
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            for line in lines.feed(Data(), final: true) { writeLine(prefix, line) }
        }
        process.terminationHandler = { [weak self] finished in
            guard let self else { return }
            let expected = self.lock.withLock { self.stopping }
            if !expected { self.post(.exited(name: service.name, status: finished.terminationStatus)) }
        }
        try process.run()
        lock.withLock { processes.append((service.name, process)) }
    }

    /// SIGTERM to every service (they finish in-flight requests), SIGKILL to any still running after 10 s.
    func stopAll() {
        let running = lock.withLock { () -> [(name: String, process: Process)] in
            stopping = true
            return processes
        }
        for (_, process) in running where process.isRunning { process.terminate() }
        let deadline = Date().addingTimeInterval(10)
        while running.contains(where: { $0.process.isRunning }) && Date() < deadline { usleep(50_000) }
        for (name, process) in running where process.isRunning {
            say("authctl: \(name) did not stop within 10 s; killing it")
            kill(process.processIdentifier, SIGKILL)
        }
        for (_, process) in running { process.waitUntilExit() }
    }
}

/// Splits a byte stream into lines; a final partial line comes out when the stream ends.
final class LineSplitter: @unchecked Sendable {
    private let lock = NSLock()
    private var pending = Data()

    func feed(_ chunk: Data, final: Bool) -> [Data] {
        lock.withLock {
            pending.append(chunk)
            var lines: [Data] = []
            while let newline = pending.firstIndex(of: 0x0A) {
                lines.append(Data(pending[pending.startIndex..<newline]))
                pending.removeSubrange(pending.startIndex...newline)
            }
            if final && !pending.isEmpty {
                lines.append(pending)
                pending = Data()
            }
            return lines
        }
    }
}

/// Writes a line to standard output at once: authctl's lines and the services' lines interleave on one terminal or
/// pipe, and `print` would hold ours back in stdio's buffer when the output is a pipe.
func say(_ text: String) {
    writeLine("", Data(text.utf8))
}

private let outputLock = NSLock()

/// One whole line (prefix, text, newline) to standard output with write(2), retried on partial writes and EINTR.
/// Errors (a closed terminal, a reader that went away) are ignored: losing log lines must never stop the services'
/// supervisor — FileHandle's `write` would end the process with a fatal error instead.
func writeLine(_ prefix: String, _ line: Data) {
    var bytes = Array(prefix.utf8)
    bytes += line
    bytes.append(0x0A)
    outputLock.withLock {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}

/// Text to standard output without a newline (a progress line), with the same error policy as ``writeLine(_:_:)``.
func writeRaw(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
}
