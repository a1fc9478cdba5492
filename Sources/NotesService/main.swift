import AuthStackHTTP
import AuthStackVerifier
import NotesServer

// notes-service: configured by NOTES_* variables and LOG_LEVEL (docs/configuration.md; `--help` lists them).
await ServiceLauncher.run(
    executable: "notes-service",
    name: "notes",
    prefix: "NOTES",
    defaultPort: 8082,
    configuration: NotesServiceConfiguration.init(reader:)
) { settings, configuration, runtime in
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
