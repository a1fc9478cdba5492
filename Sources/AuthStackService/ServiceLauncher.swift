import Foundation
import Hummingbird

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
        let app = try await build(settings, ServiceRuntime(name: name))
        try await app.runService()
    }
}

extension ServiceRuntime {
    /// A Hummingbird application for `router`, listening where `settings` say.
    public func makeApplication<Context: RequestContext>(
        router: Router<Context>,
        settings: ServiceSettings,
        serverName: String
    ) -> some ApplicationProtocol where Context.Source == ApplicationRequestContextSource {
        Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: serverName),
            logger: logger
        )
    }
}
