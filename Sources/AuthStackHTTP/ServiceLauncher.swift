import AsyncHTTPClient
import AuthStackCore
import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// The shared `main` of the three services: answer `--help` and `--version`, read the settings, bootstrap JSON
/// logging, build the application and run it until SIGTERM/SIGINT (Hummingbird's service group drains in-flight
/// requests first). Every way of not starting is one line on standard error and an exit status, never a backtrace:
/// 2 for a bad setting or argument, 1 for anything else (a missing secret, a busy port).
public enum ServiceLauncher {
    /// Runs the service `name` (`identity`, …) configured by `<prefix>_*` variables: `configuration` reads its own
    /// settings (through the reader it is given, so that `--help` can list them), `build` makes its application.
    public static func run<Configuration, App: ApplicationProtocol>(
        executable: String,
        name: String,
        prefix: String,
        defaultPort: Int,
        configuration read: (ConfigurationReader) throws(InvalidSetting) -> Configuration,
        build: (ServiceSettings, Configuration, ServiceRuntime) async throws -> App
    ) async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch arguments.first {
        case "--help", "-h":
            let reader = ConfigurationReader.recording()
            _ = try? ServiceSettings(prefix: prefix, defaultPort: defaultPort, reader: reader)
            _ = try? read(reader)
            print(usage(executable: executable, settings: reader.settings))
            exit(0)
        case "--version":
            print("\(executable) \(AuthStackVersion.current)")
            exit(0)
        case nil, "healthcheck":
            break
        case let argument?:
            fail(executable, "unknown argument \(argument) (try --help)", status: 2)
        }
        let reader = ConfigurationReader(ProcessInfo.processInfo.environment)
        let settings: ServiceSettings
        let configuration: Configuration
        do {
            settings = try ServiceSettings(prefix: prefix, defaultPort: defaultPort, reader: reader)
            configuration = try read(reader)
        } catch {
            fail(executable, "invalid configuration: \(error)", status: 2)
        }
        if arguments.first == "healthcheck" {
            exit(await healthcheck(settings: settings, executable: executable))
        }
        ServiceRuntime.bootstrapLogging(service: name, level: settings.logLevel)
        let app: App
        do {
            app = try await build(settings, configuration, ServiceRuntime(name: name))
        } catch {
            // Missing secrets, a wrong master key, an unreadable database: one clear line, no stack trace.
            fail(executable, "cannot start: \(Self.describe(error))", status: 1)
        }
        if ProcessInfo.processInfo.environment["AUTHSTACK_EXIT_WITH_PARENT"] == "1" { stopWhenParentExits() }
        do {
            try await app.runService()
        } catch let failure as ListenerFailure {
            let reason = listenFailure(failure.underlying) ?? describe(failure.underlying)
            let settings = failure.settings.map { "\(prefix)_\($0)" }.joined(separator: " or ")
            fail(executable, "cannot listen on \(failure.address): \(reason) (set \(settings))", status: 1)
        } catch {
            if let reason = listenFailure(error) {
                fail(
                    executable,
                    "cannot listen on \(settings.host):\(settings.port): \(reason) (set \(prefix)_PORT or \(prefix)_HOST)",
                    status: 1
                )
            }
            fail(executable, "stopped: \(Self.describe(error))", status: 1)
        }
    }

    /// Why the server could not listen, when `error` says it could not (a taken port, a privileged one, an address
    /// this machine does not have), else nil.
    static func listenFailure(_ error: any Error) -> String? {
        if let error = error as? IOError, [EADDRINUSE, EACCES, EADDRNOTAVAIL].contains(error.errnoCode) {
            return error.errnoCode == EADDRINUSE ? "the address is in use" : String(cString: strerror(error.errnoCode))
        }
        return nil
    }

    /// Writes `executable: message` to standard error and exits with `status`.
    static func fail(_ executable: String, _ message: String, status: Int32) -> Never {
        FileHandle.standardError.write(Data("\(executable): \(message)\n".utf8))
        exit(status)
    }

    /// `--help`: what the program is, how to run it, and every variable it reads with its default.
    static func usage(executable: String, settings: [ConfigurationReader.Setting]) -> String {
        let width = settings.map(\.variable.count).max() ?? 0
        let lines = settings.map { setting in
            "  " + setting.variable.padding(toLength: width, withPad: " ", startingAt: 0)
                + "  default \(setting.defaultValue); \(setting.accepted)"
        }
        return """
            usage: \(executable) [--help | --version | healthcheck]

            Runs the AuthStack \(executable), configured by environment variables (docs/configuration.md). A bad value
            stops it at start with one line naming the variable (exit status 2). `healthcheck` exits 0 when the
            service on the configured port is ready, else 1.

            Settings:
            """ + "\n" + lines.joined(separator: "\n")
    }
}

extension ServiceLauncher {
    /// `<service> healthcheck`: exits 0 when the service on the configured port answers `/readyz` with 200, else 1.
    /// Container healthchecks use it, so images need no curl.
    static func healthcheck(settings: ServiceSettings, executable: String) async -> Int32 {
        let host = ["0.0.0.0", "::", ""].contains(settings.host) ? "127.0.0.1" : settings.host
        let url = "http://\(host.contains(":") ? "[\(host)]" : host):\(settings.port)/readyz"
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(3))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            guard response.status == .ok else {
                FileHandle.standardError.write(Data("\(executable): not ready (HTTP \(response.status.code) from \(url))\n".utf8))
                return 1
            }
            return 0
        } catch {
            FileHandle.standardError.write(Data("\(executable): unhealthy: \(error) (\(url))\n".utf8))
            return 1
        }
    }

    /// Under `authctl up`: when the parent dies without stopping us (SIGKILL), we get reparented; stop gracefully
    /// then, as on SIGTERM, so no orphan keeps a port.
    static func stopWhenParentExits() {
        let parent = getppid()
        Thread.detachNewThread {
            while getppid() == parent { sleep(1) }
            kill(getpid(), SIGTERM)
        }
    }

    /// Foundation's file errors say best what is wrong with a path; our own errors describe themselves.
    static func describe(_ error: any Error) -> String {
        if let error = error as? CocoaError { return error.localizedDescription }
        return String(describing: error)
    }
}
