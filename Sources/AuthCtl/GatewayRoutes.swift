import AuthStackCore
import Foundation

/// The paths `authctl up`'s gateway answers: an allow-list, the same one as the compose gateway's `location` blocks
/// (`services/gateway/routes.conf`, which `services/gateway/nginx.conf` includes). `AuthCtlGatewayTests` parses those
/// blocks and compares them with ``all``, so the two gateways cannot drift apart. A path that no entry matches is the
/// 404 ``notFound`` problem, the body nginx sends: the key service's `/v1/…` above all, and every service's `/readyz`
/// and `/metrics` (operational, for the private network only).
///
/// | path | goes to |
/// |---|---|
/// | `/signup`, `/login`, `/refresh`, `/logout`, `/logout-all`, `/password`, `/me`, `/sessions`, `/sessions/{id}` | identity |
/// | `/notes`, `/notes/{id}` | notes |
/// | `/app/…` | the static files of the web root |
/// | `/app` | 301 to `/app/` |
/// | `/` | 302 to `/app/` |
/// | `/healthz` | the gateway's own liveness answer |
/// | anything else | 404 `not_found` problem |
enum GatewayRoutes {
    /// Where a matched request goes.
    enum Destination: Hashable, Sendable {
        /// Proxied to the identity service.
        case identity
        /// Proxied to the notes service.
        case notes
        /// A file of the web root.
        case webClient
        /// A redirect the gateway answers itself.
        case redirect(status: Int, location: String)
        /// The gateway's own liveness answer (``healthBody``).
        case health
    }

    /// The paths one entry matches, compared with the percent-decoded request path (nginx decodes before it picks a
    /// location too).
    enum Pattern: Hashable, Sendable {
        /// This path exactly; a `{name}` segment stands for any one non-empty segment other than `.` and `..`
        /// (nginx: `location = …`, or an alternative of a `location ~` regex, `/[^/]+` for the segment).
        case path(String)
        /// Every path that starts with this (nginx: a prefix `location`).
        case prefix(String)

        /// Whether the (percent-decoded) `path` is one of this pattern's.
        func matches(_ path: String) -> Bool {
            switch self {
            case .prefix(let prefix):
                return path.hasPrefix(prefix)
            case .path(let pattern):
                let expected = pattern.split(separator: "/", omittingEmptySubsequences: false)
                let actual = path.split(separator: "/", omittingEmptySubsequences: false)
                guard expected.count == actual.count else { return false }
                return zip(expected, actual).allSatisfy { wanted, segment in
                    Self.isPlaceholder(wanted) ? !segment.isEmpty && segment != "." && segment != ".." : wanted == segment
                }
            }
        }

        /// Whether a segment of a ``path(_:)`` pattern is a `{name}` placeholder.
        static func isPlaceholder(_ segment: Substring) -> Bool {
            segment.count > 2 && segment.hasPrefix("{") && segment.hasSuffix("}")
        }
    }

    /// One entry of the table: a pattern and where its paths go.
    struct Route: Hashable, Sendable {
        /// The paths it matches.
        let pattern: Pattern
        /// Where they go.
        let destination: Destination

        /// An entry for one path (or path template with `{name}` segments).
        static func path(_ path: String, to destination: Destination) -> Route {
            Route(pattern: .path(path), destination: destination)
        }

        /// An entry for every path under a prefix.
        static func prefix(_ prefix: String, to destination: Destination) -> Route {
            Route(pattern: .prefix(prefix), destination: destination)
        }
    }

    /// The table, in routes.conf's order. No two patterns match the same path, so the order does not decide anything.
    static let all: [Route] = [
        // Identity's public API (DESIGN.md §5 "Identity service (public)").
        .path("/signup", to: .identity),
        .path("/login", to: .identity),
        .path("/refresh", to: .identity),
        .path("/logout", to: .identity),
        .path("/logout-all", to: .identity),
        .path("/password", to: .identity),
        .path("/me", to: .identity),
        .path("/sessions", to: .identity),
        .path("/sessions/{id}", to: .identity),
        // Notes' API.
        .path("/notes", to: .notes),
        .path("/notes/{id}", to: .notes),
        // The demo web client, on the same origin as the APIs; relative URLs in its index.html resolve against /app/.
        .prefix("/app/", to: .webClient),
        .path("/", to: .redirect(status: 302, location: "/app/")),
        .path("/app", to: .redirect(status: 301, location: "/app/")),
        .path("/healthz", to: .health),
    ]

    /// Where a raw request path (no query) goes, or nil when it is not in the table (404). The path is percent-decoded
    /// first; a path that does not decode is in no entry.
    static func destination(of rawPath: String) -> Destination? {
        guard let path = rawPath.removingPercentEncoding else { return nil }
        return all.first { $0.pattern.matches(path) }?.destination
    }

    /// The answer for every path not in the table: the body of nginx's `@not_found` location.
    static let notFound = ProblemDetails(.notFound, detail: "No resource at this path.")

    /// `/healthz`'s body (`application/json`, `Cache-Control: no-store`), as nginx answers it.
    static let healthBody = #"{"status":"ok"}"#
}
