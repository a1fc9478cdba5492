import AuthStackCore
import Foundation
import HTTPTypes
import Hummingbird

/// Cross-site request forgery on the endpoints a browser's cookie or form can drive (docs/security.md "Origin
/// check"; issue 17, item 5). `SameSite=Strict` keeps the refresh cookie from other sites, not from a sibling
/// subdomain (`evil.example.com` is the same site as `auth.example.com`), and a simple request (a form post, or a
/// `fetch` with a body of no type) needs no preflight. So `/signup`, `/login`, `/refresh`, `/logout` and `/logout-all`
/// refuse, with 403 `origin_not_allowed`:
///
/// - a request whose `Origin` is present and is neither this service's own origin nor in `IDENTITY_CORS_ORIGINS`
///   (`Origin: null`, sent by sandboxed frames and some redirects, is never either);
/// - a request whose `Sec-Fetch-Site` is `cross-site`, unless its `Origin` is in that allow-list.
///
/// A request without either header (curl, Postman, server-side clients) is not a browser's and passes: it could set
/// any header it liked. The own origin is the scheme and `Host` the request was sent to; behind a trusted proxy, its
/// `X-Forwarded-Proto` and `X-Forwarded-Host` (the proxy speaks to identity under another name). Ports are compared
/// with the scheme's default filled in, host names in lower case.
struct OriginCheck: Sendable {
    /// `IDENTITY_CORS_ORIGINS`, exactly as configured.
    let allowList: Set<String>

    /// Throws 403 `origin_not_allowed` when a browser sent the request from a page this service does not trust.
    func require(_ request: Request, fromTrustedProxy: Bool) throws(ProblemDetails) {
        let origin = request.headers[.origin]
        if let origin, allowList.contains(origin) { return }
        if let site = request.headers[.secFetchSite], site.lowercased() == "cross-site" {
            throw Self.refused
        }
        guard let origin else { return }
        let forwardedHost = fromTrustedProxy ? request.headers[.xForwardedHost].flatMap(Self.firstValue) : nil
        let forwardedScheme = fromTrustedProxy ? request.headers[.xForwardedProto].flatMap(Self.firstValue) : nil
        guard let authority = forwardedHost ?? request.head.authority,
            let own = Self.normalized(scheme: forwardedScheme?.lowercased() ?? "http", authority: authority),
            let presented = Self.normalized(origin: origin),
            own == presented
        else { throw Self.refused }
    }

    static let refused = ProblemDetails(
        .originNotAllowed,
        detail: "This endpoint does not accept requests from a page of another origin."
    )

    /// `scheme://host:port` with the port always written, from an `Origin` value; nil for `null` or anything that is
    /// not a scheme and an authority alone.
    static func normalized(origin: String) -> String? {
        guard let separator = origin.range(of: "://") else { return nil }
        return normalized(scheme: String(origin[..<separator.lowerBound]).lowercased(), authority: String(origin[separator.upperBound...]))
    }

    /// `scheme://host:port` for an authority (`host`, `host:port`, `[v6]:port`), the default port filled in.
    static func normalized(scheme: String, authority: String) -> String? {
        let defaultPort: String
        switch scheme {
        case "http": defaultPort = "80"
        case "https": defaultPort = "443"
        default: return nil
        }
        let text = authority.lowercased()
        guard !text.isEmpty, !text.contains("/"), !text.contains("@"), !text.contains(where: \.isWhitespace) else { return nil }
        var host = text
        var port = defaultPort
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[...close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                port = String(rest.dropFirst())
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            port = String(text[text.index(after: colon)...])
        }
        guard !host.isEmpty, let number = Int(port), (1...65535).contains(number), port.allSatisfy(\.isASCII) else { return nil }
        return "\(scheme)://\(host):\(number)"
    }

    /// The first of a comma-separated header's values (a chain of proxies appends; the first is the client-facing one).
    private static func firstValue(_ header: String) -> String? {
        let first = header.split(separator: ",", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) }
        return first?.isEmpty == false ? first : nil
    }
}

extension HTTPField.Name {
    /// `Sec-Fetch-Site` (Fetch Metadata): `same-origin`, `same-site`, `cross-site` or `none`, set by browsers only.
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
    /// `X-Forwarded-Host`: the `Host` the client asked a proxy for.
    static let xForwardedHost = HTTPField.Name("X-Forwarded-Host")!
    /// `X-Forwarded-Proto`: the scheme the client spoke to a proxy.
    static let xForwardedProto = HTTPField.Name("X-Forwarded-Proto")!
}
