import AuthStackCore
import AuthStackHTTP
import AuthStackStorage

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
/// ``InvalidSetting`` naming the variable.
public struct NotesServiceConfiguration: Sendable, Equatable {
    /// Smallest accepted `NOTES_MAX_BODY_BYTES`: a note at its largest (200-code-point title, 64 KiB body, every
    /// character escaped) must always fit, so the limit can never make a valid note unsendable.
    static let minimumBodyLimit = 512 * 1024

    /// `NOTES_DATABASE_PATH` (SQLite) and `NOTES_DATABASE_URL` (PostgreSQL shared by replicas; set, it replaces SQLite).
    public var database = DatabaseSettings(path: "data/notes.sqlite")
    /// What every accepted access token must say about issuer and audience, and the leeway for its times.
    public var tokenPolicy = TokenVerificationPolicy(issuer: "authstack", audience: "notes")
    /// Largest accepted request body in bytes.
    public var maximumBodyBytes = 1 << 20
    /// How the service follows the key service's keyring.
    public var keyring = KeyringFollowerConfiguration(keyServiceURL: "http://127.0.0.1:8083", tokenFile: "keys/notes.token")
    /// On SQLite, `GET /notes` is answered on the event loop without a task (``NotesInlineResponder``); off, the
    /// router answers it like every other route.
    public var inlineReads = true

    /// The defaults.
    public init() {}

    /// Reads the variables in the table above from `environment`.
    public init(environment: [String: String]) throws(InvalidSetting) {
        try self.init(reader: ConfigurationReader(environment))
    }

    /// Reads the same variables through `reader` (a recording one lists them for `--help`).
    public init(reader: ConfigurationReader) throws(InvalidSetting) {
        database = try DatabaseSettings(prefix: "NOTES", defaultPath: database.path, reader: reader)
        tokenPolicy.issuer = try reader.name("NOTES_ISSUER", default: tokenPolicy.issuer)
        tokenPolicy.audience = try reader.name("NOTES_AUDIENCE", default: tokenPolicy.audience)
        tokenPolicy.leeway = try reader.seconds("NOTES_LEEWAY", default: tokenPolicy.leeway, in: TokenVerificationPolicy.leewayRange)
        maximumBodyBytes = try reader.integer("NOTES_MAX_BODY_BYTES", default: maximumBodyBytes, in: Self.minimumBodyLimit...(1 << 30))
        keyring = try KeyringFollowerConfiguration(prefix: "NOTES", client: "notes", reader: reader)
        inlineReads = try reader.bool("NOTES_INLINE_READS", default: inlineReads)
    }
}
