import AuthStackCore
import Foundation
import PostgresNIO

/// A PostgreSQL database URL, `postgres://user:password@host:port/database?sslmode=…` (also `postgresql://`), parsed
/// strictly: every part of it either means what libpq means by it or is refused with the variable's name.
///
/// The password is kept for connecting only: ``description`` and every error leave it out, so a URL can be logged.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    /// How the connection uses TLS (`sslmode`).
    public enum TLSMode: String, Sendable, Equatable {
        /// Plain TCP (`sslmode=disable`).
        case disable
        /// TLS when the server offers it, plain otherwise (`sslmode=prefer`, the default as in libpq).
        case prefer
        /// TLS or no connection (`sslmode=require`, and `verify-full`, which is what it does here).
        case require
    }

    /// Host name or IP address (IPv6 without its brackets).
    public let host: String
    /// TCP port (default 5432).
    public let port: Int
    /// Role to log in as.
    public let username: String
    /// Password, if the URL has one or one was read from a file (never printed).
    private(set) var password: String?
    /// Database name.
    public let database: String
    /// TLS use. `prefer` and `require` verify the server's certificate and host name against the system's trust store
    /// (like libpq's `verify-full`, stricter than its `require`).
    public let tlsMode: TLSMode

    /// `postgres://user@host:port/database?sslmode=…`, without the password.
    public var description: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(username)@\(hostPart):\(port)/\(database)?sslmode=\(tlsMode.rawValue)"
    }

    /// Parses `text`, the value of the environment variable `variable` (named in errors, which never quote the value).
    public init(_ text: String, variable: String) throws(InvalidSetting) {
        func invalid(_ reason: String) -> InvalidSetting {
            InvalidSetting(variable: variable, reason: reason + " (expected postgres://user:password@host:port/database)")
        }
        guard let schemeEnd = text.range(of: "://") else { throw invalid("not a URL") }
        guard ["postgres", "postgresql"].contains(text[..<schemeEnd.lowerBound].lowercased()) else {
            throw invalid("the scheme must be postgres or postgresql")
        }
        var rest = Substring(text[schemeEnd.upperBound...])
        guard !rest.contains("#"), !rest.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true })
        else { throw invalid("a fragment, spaces or control characters are not allowed") }
        var query: Substring?
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        guard let slash = rest.firstIndex(of: "/") else { throw invalid("the database name is missing") }
        let authority = rest[..<slash]
        let path = rest[rest.index(after: slash)...]

        let atSigns = authority.filter { $0 == "@" }.count
        guard atSigns == 1, let at = authority.firstIndex(of: "@") else {
            throw invalid(atSigns == 0 ? "the user name is missing" : "an @ in the user name or password must be written %40")
        }
        let userInfo = authority[..<at]
        let user = userInfo.firstIndex(of: ":").map { userInfo[..<$0] } ?? userInfo
        guard let username = Self.decoded(user), !username.isEmpty else { throw invalid("the user name is missing or badly %-encoded") }
        var password: String?
        if let colon = userInfo.firstIndex(of: ":") {
            guard let decoded = Self.decoded(userInfo[userInfo.index(after: colon)...]) else { throw invalid("the password is badly %-encoded") }
            password = decoded
        }

        let (host, port) = try Self.hostAndPort(authority[authority.index(after: at)...], invalid: invalid)
        guard let database = Self.decoded(path), !database.isEmpty, !database.contains("/") else {
            throw invalid("the database name is missing or badly %-encoded")
        }
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tlsMode = try Self.tlsMode(query, invalid: invalid)
    }

    /// Whether the URL itself carries a password.
    public var hasPassword: Bool { password != nil }

    /// This URL with `password`, read from a file (`<PREFIX>_DATABASE_PASSWORD_FILE`) so that it is in no environment.
    public func with(password: String) -> PostgresURL {
        var url = self
        url.password = password
        return url
    }

    /// The postgres-nio client configuration for this URL.
    public var clientConfiguration: PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch tlsMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        return PostgresClient.Configuration(host: host, port: port, username: username, password: password, database: database, tls: tls)
    }

    /// The configuration of one connection made outside the pool (the start-up probe).
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch tlsMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        return PostgresConnection.Configuration(host: host, port: port, username: username, password: password, database: database, tls: tls)
    }

    /// This URL with another database name (tests create one database per test).
    public func with(database: String) -> PostgresURL {
        PostgresURL(host: host, port: port, username: username, password: password, database: database, tlsMode: tlsMode)
    }

    private init(host: String, port: Int, username: String, password: String?, database: String, tlsMode: TLSMode) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tlsMode = tlsMode
    }

    /// Percent-decodes a URL component; `nil` for a malformed escape or a raw character that must be escaped.
    private static func decoded(_ component: Substring) -> String? {
        let forbidden: Set<Character> = ["/", "?", "#", "@", "[", "]"]
        guard !component.contains(where: forbidden.contains) else { return nil }
        return String(component).removingPercentEncoding
    }

    private static func hostAndPort(
        _ text: Substring,
        invalid: (String) -> InvalidSetting
    ) throws(InvalidSetting) -> (String, Int) {
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw invalid("an IPv6 address must be closed with ]") }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected text after the IPv6 address") }
                portText = after.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { throw invalid("the IPv6 address is malformed") }
        } else {
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            portText = parts.count == 2 ? parts[1] : nil
            let allowed = { (c: Character) in c.isASCII && (c.isLetter || c.isNumber || c == "." || c == "-" || c == "_") }
            guard !host.isEmpty, host.allSatisfy(allowed) else { throw invalid("the host is missing or not a host name or address") }
        }
        guard let portText else { return (String(host), 5432) }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber), let port = Int(portText), (1...65535).contains(port)
        else { throw invalid("the port must be a number 1–65535") }
        return (String(host), port)
    }

    private static func tlsMode(
        _ query: Substring?,
        invalid: (String) -> InvalidSetting
    ) throws(InvalidSetting) -> TLSMode {
        guard let query, !query.isEmpty else { return .prefer }
        var mode: TLSMode?
        for parameter in query.split(separator: "&", omittingEmptySubsequences: false) {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2, pair[0] == "sslmode" else { throw invalid("the only parameter understood is sslmode") }
            guard mode == nil else { throw invalid("sslmode is given twice") }
            switch pair[1] {
            case "disable": mode = .disable
            case "prefer": mode = .prefer
            case "require", "verify-full": mode = .require
            default: throw invalid("sslmode must be disable, prefer, require or verify-full")
            }
        }
        return mode ?? .prefer
    }
}
