import Foundation
import Hummingbird
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
        ServiceRuntime.bootstrapLogging(service: name, level: settings.logLevel)
        let app: App
        do {
            app = try await build(settings, ServiceRuntime(name: name))
        } catch let error as ServiceSettings.InvalidSetting {
            // A service's own settings are read while building: a bad one is a configuration error like the rest.
            FileHandle.standardError.write(Data("\(executable): invalid configuration: \(error)\n".utf8))
            exit(2)
        } catch {
            // Missing secrets, a wrong master key, an unreadable database: one clear line, no stack trace.
            FileHandle.standardError.write(Data("\(executable): cannot start: \(Self.describe(error))\n".utf8))
            exit(1)
        }
        try await app.runService()
    }
}

extension ServiceLauncher {
    /// Foundation's file errors say best what is wrong with a path; our own errors describe themselves.
    static func describe(_ error: any Error) -> String {
        if let error = error as? CocoaError { return error.localizedDescription }
        if let error = error as? any CustomStringConvertible { return error.description }
        return String(describing: error)
    }
}

extension ServiceRuntime {
    /// A Hummingbird application for `router`, listening where `settings` say.
    public func makeApplication<Context: RequestContext>(
        router: Router<Context>,
        settings: ServiceSettings,
        serverName: String,
        services: [any Service] = []
    ) -> some ApplicationProtocol where Context.Source == ApplicationRequestContextSource {
        Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: serverName),
            services: services,
            logger: logger
        )
    }
}
