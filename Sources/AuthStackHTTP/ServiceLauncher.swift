import AsyncHTTPClient
import AuthStackCore
import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// The shared `main` of the three services: read settings, bootstrap JSON logging, build the application and run it
/// until SIGTERM/SIGINT (Hummingbird's service group drains in-flight requests first). A bad setting exits with 2
/// and one line on standard error.
public enum ServiceLauncher {
    /// Runs `build`'s application for the service `name` (`identity`, …) configured by `<prefix>_*` variables.
    public static func run<App: ApplicationProtocol>(
        executable: String,
        name: String,
        prefix: String,
        defaultPort: Int,
        build: (ServiceSettings, ServiceRuntime) async throws -> App
    ) async throws {
        let settings: ServiceSettings
        do {
            settings = try ServiceSettings(prefix: prefix, defaultPort: defaultPort, environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("\(executable): invalid configuration: \(error)\n".utf8))
            exit(2)
        }
        if CommandLine.arguments.dropFirst().first == "healthcheck" {
            exit(await healthcheck(settings: settings, executable: executable))
        }
        ServiceRuntime.bootstrapLogging(service: name, level: settings.logLevel)
        let app: App
        do {
            app = try await build(settings, ServiceRuntime(name: name))
        } catch let error as InvalidSetting {
            // A service's own settings are read while building: a bad one is a configuration error like the rest.
            FileHandle.standardError.write(Data("\(executable): invalid configuration: \(error)\n".utf8))
            exit(2)
        } catch {
            // Missing secrets, a wrong master key, an unreadable database: one clear line, no stack trace.
            FileHandle.standardError.write(Data("\(executable): cannot start: \(Self.describe(error))\n".utf8))
            exit(1)
        }
        if ProcessInfo.processInfo.environment["AUTHSTACK_EXIT_WITH_PARENT"] == "1" { stopWhenParentExits() }
        try await app.runService()
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
