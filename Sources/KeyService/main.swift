import AuthStackHTTP
import KeyServer

// key-service: configured by KEYS_* variables and LOG_LEVEL (docs/configuration.md; `--help` lists them).
await ServiceLauncher.run(
    executable: "key-service",
    name: "keys",
    prefix: "KEYS",
    defaultPort: 8083,
    configuration: KeyServiceConfiguration.init(reader:)
) { settings, configuration, runtime in
    try await buildKeyApplication(settings: settings, configuration: configuration, runtime: runtime)
}
