import AuthStackCore
import AuthStackService

/// The key service's settings beyond host and port, from `KEYS_*` environment variables (README configuration table).
struct KeyServiceConfiguration: Sendable, Equatable {
    /// SQLite database file (`KEYS_DATABASE_PATH`, default `data/keys.sqlite`), used unless a URL is set.
    var databasePath = "data/keys.sqlite"
    /// PostgreSQL database shared by replicas (`KEYS_DATABASE_URL`, `postgres://user:password@host:port/db`); set,
    /// it replaces SQLite. An empty value counts as unset.
    var databaseURL: PostgresURL?
    /// Directory with `master.key` and the client tokens (`KEYS_SECRETS_DIR`, default `keys`).
    var secretsDirectory = "keys"
    /// Lifecycle timings (`KEYS_ROTATION_INTERVAL`, `KEYS_PUBLISH_LEAD`, `KEYS_RETENTION`, in seconds).
    var lifecycle = KeyLifecyclePolicy.Configuration()
    /// How often the scheduler checks (`KEYS_CHECK_INTERVAL`, seconds, default 10).
    var checkInterval: Double = 10

    init() {}

    init(environment: [String: String]) throws(ServiceSettings.InvalidSetting) {
        databasePath = environment["KEYS_DATABASE_PATH"] ?? databasePath
        if let url = environment["KEYS_DATABASE_URL"], !url.isEmpty { databaseURL = try PostgresURL(url, variable: "KEYS_DATABASE_URL") }
        secretsDirectory = environment["KEYS_SECRETS_DIR"] ?? secretsDirectory
        let reader = EnvironmentReader(environment)
        lifecycle.rotationInterval = try reader.seconds("KEYS_ROTATION_INTERVAL", default: lifecycle.rotationInterval)
        lifecycle.publishLead = try reader.seconds("KEYS_PUBLISH_LEAD", default: lifecycle.publishLead)
        lifecycle.retention = try reader.seconds("KEYS_RETENTION", default: lifecycle.retention)
        checkInterval = try reader.seconds("KEYS_CHECK_INTERVAL", default: checkInterval)
    }
}
