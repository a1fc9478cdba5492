import AuthStackCore
import Foundation

/// How a service reaches the key service and follows its keyring (docs/design.md §4 "Distribution").
///
/// Environment, for a service whose prefix is `NOTES` (identity uses `IDENTITY`):
/// `NOTES_KEYS_URL` (default `http://127.0.0.1:8083`), `NOTES_KEYS_TOKEN_FILE` (default
/// `keys/notes.token`), `NOTES_KEYS_WAIT` (long-poll seconds, 1–60, default 30).
public struct KeyringFollowerConfiguration: Sendable, Equatable {
    /// Base URL of the key service, without a trailing slash.
    public var keyServiceURL: String
    /// File holding this client's bearer token for the key service.
    public var tokenFile: String
    /// How long one long-poll may wait for a change, in seconds (the key service allows at most 60).
    public var longPollWait: Int = 30
    /// Minimum time between two fetches caused by unknown kids, in seconds: forged kids cannot cause a fetch storm.
    public var unknownKeyIDCooldown: Double = 1
    /// First delay after a failed fetch, in seconds; doubles per consecutive failure, with full jitter.
    public var initialBackoff: Double = 0.1
    /// Longest delay between two attempts while the key service is unreachable, in seconds. Bounds how
    /// long a restarted key service waits for its followers to return.
    public var maximumBackoff: Double = 2
    /// Time allowed to connect to the key service, in seconds.
    public var connectTimeout: Double = 2
    /// Time allowed for a fetch that does not long-poll (first fetch, unknown-kid refresh), in seconds.
    public var requestTimeout: Double = 5

    public init(keyServiceURL: String, tokenFile: String) {
        self.keyServiceURL = keyServiceURL
        self.tokenFile = tokenFile
    }

    /// Reads `<PREFIX>_KEYS_URL`, `<PREFIX>_KEYS_TOKEN_FILE` and `<PREFIX>_KEYS_WAIT`.
    public init(prefix: String, client: String, reader: ConfigurationReader) throws(InvalidSetting) {
        let urlVariable = "\(prefix)_KEYS_URL"
        var url = try reader.text(urlVariable, default: "http://127.0.0.1:8083", accepted: "an http:// or https:// URL without a query")
        while url.hasSuffix("/") { url.removeLast() }
        guard let parsed = URLComponents(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host?.isEmpty == false,
            parsed.query == nil, parsed.fragment == nil
        else {
            throw InvalidSetting(variable: urlVariable, reason: "expected an http:// or https:// URL such as http://127.0.0.1:8083")
        }
        self.init(keyServiceURL: url, tokenFile: try reader.path("\(prefix)_KEYS_TOKEN_FILE", default: "keys/\(client).token"))
        longPollWait = try reader.integer("\(prefix)_KEYS_WAIT", default: longPollWait, in: 1...60)
    }
}
