import AuthStackCore
import AuthStackService

/// The notes service's settings beyond host, port and log level, from `NOTES_*` environment variables.
///
/// | variable | default | meaning |
/// |---|---|---|
/// | `NOTES_DATABASE_PATH` | `data/notes.sqlite` | SQLite file (WAL mode; created and migrated at start) |
/// | `NOTES_DATABASE_URL` | none | PostgreSQL shared by replicas (`postgres://user:password@host:port/db`); set, it replaces SQLite |
/// | `NOTES_ISSUER` | `authstack` | `iss` every access token must carry |
/// | `NOTES_AUDIENCE` | `notes` | the name `aud` must contain |
/// | `NOTES_LEEWAY` | `30` | clock-skew leeway for `exp`, `iat`, `nbf`, in seconds (0–300) |
/// | `NOTES_MAX_BODY_BYTES` | `1048576` | largest request body; larger ones get 413 `payload_too_large` |
/// | `NOTES_KEYS_URL` | `http://127.0.0.1:8083` | the key service |
/// | `NOTES_KEYS_TOKEN_FILE` | `keys/notes.token` | this service's client token for the key service |
/// | `NOTES_KEYS_WAIT` | `30` | keyring long-poll, seconds (1–60) |
/// | `NOTES_INLINE_READS` | `true` | on SQLite, answer `GET /notes` on the event loop (see ``NotesInlineResponder``) |
///
/// `NOTES_HOST`, `NOTES_PORT` and `LOG_LEVEL` are read by ``ServiceSettings``. An invalid value is a
/// ``ServiceSettings/InvalidSetting`` naming the variable.
struct NotesServiceConfiguration: Sendable, Equatable {
    /// Smallest accepted `NOTES_MAX_BODY_BYTES`: a note at its largest (200-code-point title, 64 KiB body, every
    /// character escaped) must always fit, so the limit can never make a valid note unsendable.
    static let minimumBodyLimit = 512 * 1024

    /// SQLite database file, used unless a URL is set.
    var databasePath = "data/notes.sqlite"
    /// PostgreSQL database shared by replicas; set, it replaces SQLite. An empty `NOTES_DATABASE_URL` counts as unset.
    var databaseURL: PostgresURL?
    /// What every accepted access token must say about issuer and audience, and the leeway for its times.
    var tokenPolicy = TokenVerificationPolicy(issuer: "authstack", audience: "notes")
    /// Largest accepted request body in bytes.
    var maximumBodyBytes = 1 << 20
    /// How the service follows the key service's keyring.
    var keyring = KeyringFollowerConfiguration(keyServiceURL: "http://127.0.0.1:8083", tokenFile: "keys/notes.token")
    /// On SQLite, `GET /notes` is answered on the event loop without a task (``NotesInlineResponder``); off, the
    /// router answers it like every other route.
    var inlineReads = true

    /// The defaults.
    init() {}

    /// Reads the variables in the table above from `environment`.
    init(environment: [String: String]) throws(ServiceSettings.InvalidSetting) {
        if let path = environment["NOTES_DATABASE_PATH"] {
            guard !path.isEmpty else { throw ServiceSettings.InvalidSetting(variable: "NOTES_DATABASE_PATH", reason: "expected a file path") }
            databasePath = path
        }
        if let url = environment["NOTES_DATABASE_URL"], !url.isEmpty { databaseURL = try PostgresURL(url, variable: "NOTES_DATABASE_URL") }
        tokenPolicy.issuer = try Self.name("NOTES_ISSUER", environment, default: tokenPolicy.issuer)
        tokenPolicy.audience = try Self.name("NOTES_AUDIENCE", environment, default: tokenPolicy.audience)
        if let text = environment["NOTES_LEEWAY"] {
            guard let seconds = Double(text), seconds.isFinite, (0...300).contains(seconds) else {
                throw ServiceSettings.InvalidSetting(variable: "NOTES_LEEWAY", reason: "expected seconds from 0 to 300")
            }
            tokenPolicy.leeway = seconds
        }
        if let text = environment["NOTES_MAX_BODY_BYTES"] {
            guard let bytes = Int(text), bytes >= Self.minimumBodyLimit, bytes <= 1 << 30 else {
                throw ServiceSettings.InvalidSetting(
                    variable: "NOTES_MAX_BODY_BYTES", reason: "expected a number of bytes from \(Self.minimumBodyLimit) to \(1 << 30)")
            }
            maximumBodyBytes = bytes
        }
        keyring = try KeyringFollowerConfiguration(prefix: "NOTES", client: "notes", environment: environment)
        inlineReads = try EnvironmentReader(environment).bool("NOTES_INLINE_READS", default: inlineReads)
    }

    private static func name(_ variable: String, _ environment: [String: String], default value: String) throws(ServiceSettings.InvalidSetting)
        -> String
    {
        guard let text = environment[variable] else { return value }
        guard !text.isEmpty, !text.contains(where: \.isWhitespace) else {
            throw ServiceSettings.InvalidSetting(variable: variable, reason: "expected a non-empty name without spaces")
        }
        return text
    }
}
