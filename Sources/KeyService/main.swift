import AuthStackService

// key-service: configured by KEYS_HOST, KEYS_PORT and LOG_LEVEL; see the README's configuration table.
try await ServiceLauncher.run(executable: "key-service", name: "keys", prefix: "KEYS", defaultPort: 8083) { settings, runtime in
    buildKeyApplication(settings: settings, runtime: runtime)
}
