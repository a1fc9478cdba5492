import AuthStackService

// notes-service: configured by NOTES_HOST, NOTES_PORT and LOG_LEVEL; see the README's configuration table.
try await ServiceLauncher.run(executable: "notes-service", name: "notes", prefix: "NOTES", defaultPort: 8082) { settings, runtime in
    buildNotesApplication(settings: settings, runtime: runtime)
}
