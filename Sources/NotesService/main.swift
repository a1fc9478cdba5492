import AuthStackHTTP
import Foundation
import NotesServer

// notes-service: configured by NOTES_* variables and LOG_LEVEL (docs/configuration.md).
try await ServiceLauncher.run(executable: "notes-service", name: "notes", prefix: "NOTES", defaultPort: 8082) { settings, runtime in
    let configuration = try NotesServiceConfiguration(environment: ProcessInfo.processInfo.environment)
    // A missing or empty client-token file stops start-up here ("cannot start: …", exit status 1).
    let follower = try KeyringFollower(configuration: configuration.keyring, registry: runtime.registry, logger: runtime.logger)
    return try await buildNotesApplication(
        settings: settings,
        configuration: configuration,
        runtime: runtime,
        keyring: follower,
        services: [follower]
    )
}
