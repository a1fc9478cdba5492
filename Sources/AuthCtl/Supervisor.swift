import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts the service processes, prefixes their output, and stops them all.
final class Supervisor: Sendable {
    /// What `authctl up` waits for.
    enum Event: Sendable {
        /// Every service and the gateway answered their readiness checks.
        case ready
        /// A service exited without being asked to.
        case exited(name: String, status: Int32)
        /// SIGINT or SIGTERM.
        case signal
        /// Start-up failed (a check timed out, the gateway could not listen).
        case notReady(String)
    }

    /// What the lock guards.
    private struct State {
        /// Every service started, by name.
        var processes: [(name: String, process: Process)] = []
        /// Set by ``stopAll()``: exits from now on are expected, not events.
        var stopping = false
        /// Kept alive for the life of the supervisor.
        var signalSources: [any DispatchSourceSignal] = []
    }

    private let state = Mutex(State())
    private let continuation: AsyncStream<Event>.Continuation
    /// Every event, for one consumer: readiness, a service's exit, a signal.
    let events: AsyncStream<Event>

    /// A supervisor with no services yet.
    init() {
        (events, continuation) = AsyncStream.makeStream()
    }

    /// SIGINT and SIGTERM become events instead of killing authctl before its children.
    func watchSignals() {
        state.withLock { state in
            for signalNumber in [SIGINT, SIGTERM] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
                source.setEventHandler { [weak self] in self?.post(.signal) }
                source.resume()
                state.signalSources.append(source)
            }
        }
    }

    /// Hands an event to the consumer of ``events``.
    func post(_ event: Event) { continuation.yield(event) }

    /// Starts one service with its environment and `LOG_LEVEL`, its output relayed line by line behind its name.
    func start(_ service: UpCommand.Service, logLevel: String) throws {
        // A service started late (the example, once the key service is ready) may meet a stop already under way.
        if state.withLock({ $0.stopping }) { throw CancellationError() }
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
        Self.relayLines(from: pipe.fileHandleForReading.fileDescriptor, prefix: prefix)
        process.terminationHandler = { [weak self] finished in
            guard let self else { return }
            let expected = self.state.withLock { $0.stopping }
            if !expected { self.post(.exited(name: service.name, status: finished.terminationStatus)) }
        }
        try process.run()
        state.withLock { $0.processes.append((service.name, process)) }
    }

    /// Copies each line read from `descriptor` to standard output behind `prefix`, until end of file. A thread of
    /// our own reads the pipe with read(2): FileHandle's readability handler and `availableData` end the process with a
    /// fatal error on a read error, and a supervisor must outlive its children's quirks.
    private static func relayLines(from descriptor: Int32, prefix: String) {
        Thread.detachNewThread {
            let lines = LineSplitter()
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count > 0 {
                    for line in lines.feed(Data(buffer[0..<count]), final: false) { StandardOutput.shared.writeLine(prefix, line) }
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            for line in lines.feed(Data(), final: true) { StandardOutput.shared.writeLine(prefix, line) }
        }
    }

    /// SIGTERM to every service (they finish in-flight requests), SIGKILL to any still running after 10 s.
    func stopAll() {
        let running = state.withLock { state in
            state.stopping = true
            return state.processes
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
