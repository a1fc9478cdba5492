import AuthStackHTTP
import Foundation
import KeyServer

// key-service: configured by KEYS_* variables and LOG_LEVEL (docs/configuration.md).
try await ServiceLauncher.run(executable: "key-service", name: "keys", prefix: "KEYS", defaultPort: 8083) { settings, runtime in
    let configuration = try KeyServiceConfiguration(environment: ProcessInfo.processInfo.environment)
    return try await buildKeyApplication(settings: settings, configuration: configuration, runtime: runtime)
}
