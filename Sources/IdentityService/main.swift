import AuthStackHTTP
import IdentityServer

// identity-service: configured by IDENTITY_* variables and LOG_LEVEL (docs/configuration.md; `--help` lists them).
await ServiceLauncher.run(
    executable: "identity-service",
    name: "identity",
    prefix: "IDENTITY",
    defaultPort: 8081,
    configuration: IdentityConfiguration.init(reader:)
) { settings, configuration, runtime in
    try await buildIdentityApplication(settings: settings, configuration: configuration, runtime: runtime)
}
