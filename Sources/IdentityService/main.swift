import AuthStackService

// identity-service: configured by IDENTITY_HOST, IDENTITY_PORT and LOG_LEVEL; see the README's configuration table.
try await ServiceLauncher.run(executable: "identity-service", name: "identity", prefix: "IDENTITY", defaultPort: 8081) { settings, runtime in
    buildIdentityApplication(settings: settings, runtime: runtime)
}
