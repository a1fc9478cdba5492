import AuthStackService
import Foundation

// notes-service: configured by NOTES_HOST, NOTES_PORT, LOG_LEVEL and the variables NotesServiceConfiguration lists;
// see the README's configuration table.
try await ServiceLauncher.run(executable: "notes-service", name: "notes", prefix: "NOTES", defaultPort: 8082) { settings, runtime in
    let configuration: NotesServiceConfiguration
    do {
        configuration = try NotesServiceConfiguration(environment: ProcessInfo.processInfo.environment)
    } catch {
        // The launcher's answer to a bad host, port or log level: one line, exit status 2.
        FileHandle.standardError.write(Data("notes-service: invalid configuration: \(error)\n".utf8))
        exit(2)
    }
    // A missing or empty client-token file stops start-up here ("cannot start: …", exit status 1).
    let follower = try KeyringFollower(configuration: configuration.keyring, registry: runtime.registry, logger: runtime.logger)
    return try await buildNotesApplication(
        settings: settings, configuration: configuration, runtime: runtime, keyring: follower, services: [follower])
}
