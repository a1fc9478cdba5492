import AuthStackService
import Foundation

// key-service: configured by KEYS_HOST, KEYS_PORT, KEYS_DATABASE_PATH, KEYS_SECRETS_DIR, KEYS_ROTATION_INTERVAL,
// KEYS_PUBLISH_LEAD, KEYS_RETENTION, KEYS_CHECK_INTERVAL and LOG_LEVEL; see the README's configuration table.
try await ServiceLauncher.run(executable: "key-service", name: "keys", prefix: "KEYS", defaultPort: 8083) { settings, runtime in
    let configuration = try KeyServiceConfiguration(environment: ProcessInfo.processInfo.environment)
    return try await buildKeyApplication(settings: settings, configuration: configuration, runtime: runtime)
}
