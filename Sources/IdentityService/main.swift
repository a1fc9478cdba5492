import AuthStackHTTP
import Foundation
import IdentityServer

// identity-service: configured by IDENTITY_* variables and LOG_LEVEL (docs/configuration.md).
try await ServiceLauncher.run(executable: "identity-service", name: "identity", prefix: "IDENTITY", defaultPort: 8081) { settings, runtime in
    let configuration = try IdentityConfiguration(environment: ProcessInfo.processInfo.environment)
    return try await buildIdentityApplication(settings: settings, configuration: configuration, runtime: runtime)
}
