import AsyncHTTPClient
import AuthStackCore
import AuthStackHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// Forwards a request to a service the way a reverse proxy does (RFC 9110 §7.6): method, path and query, body and
/// end-to-end headers go up; status, every end-to-end header (each `Set-Cookie` as its own field) and the body come
/// back. Redirects are never followed: a `Location` is the browser's business.
struct UpstreamProxy: Sendable {
    /// One upstream service.
    struct Upstream: Sendable {
        /// Its name in error messages (`identity`, `notes`).
        let name: String
        /// `http://host:port`, or `http+unix://<percent-encoded socket path>`; no trailing slash.
        let baseURL: String

        /// An upstream at `http://host:port`.
        init(name: String, baseURL: String) {
            self.name = name
            self.baseURL = baseURL
        }

        /// An upstream listening on the Unix domain socket `socketPath`.
        init(name: String, socketPath: String) {
            self.name = name
            self.baseURL = "http+unix://" + (socketPath.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? socketPath)
        }
    }

    /// Connection-scoped headers that a proxy must not forward (RFC 9110 §7.6.1), lowercased; plus any header that the
    /// `Connection` field names.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade",
    ]

    /// The client every forwarded request goes through (``makeClient()``).
    let client: HTTPClient
    /// The longest one upstream exchange may take; the services answer in milliseconds (no long-poll is proxied).
    let timeout: TimeAmount

    /// The client for a proxy: no redirects followed, no decompression (bodies pass through as they are).
    static func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(1), read: .seconds(60)),
            decompression: .disabled
        )
        configuration.connectionPool.idleTimeout = .seconds(30)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The upstream's answer, or a 502 problem when it cannot be reached or breaks off before answering.
    func forward(_ request: Request, to upstream: Upstream, peer: String?, logger: Logger) async throws -> Response {
        // Origin-form only (`/path?query`): an absolute-form target must not choose the upstream host.
        let target = request.uri.description
        guard target.hasPrefix("/") else { throw ProblemDetails(.invalidRequest, detail: "The request target must be a path.") }
        var outgoing = HTTPClientRequest(url: upstream.baseURL + target)
        outgoing.method = HTTPMethod(rawValue: request.method.rawValue)
        outgoing.headers = Self.forwardedHeaders(request.headers, authority: request.head.authority, peer: peer)
        if let length = request.headers[.contentLength].flatMap(Int64.init) {
            outgoing.body = .stream(request.body, length: .known(length))
        } else if request.headers[.transferEncoding] != nil {
            outgoing.body = .stream(request.body, length: .unknown)
        }
        let answer: HTTPClientResponse
        do {
            answer = try await client.execute(outgoing, timeout: timeout, logger: logger)
        } catch {
            // Answered here rather than thrown: an upstream that is down is expected, not a fault of the gateway.
            logger.warning("upstream unreachable", metadata: ["upstream": "\(upstream.name)", "error_type": "\(type(of: error))"])
            return ProblemDetails(.badGateway, detail: "The \(upstream.name) service is not reachable; is it running?", retryAfter: 1).response()
        }
        return Response(
            status: HTTPResponse.Status(code: Int(answer.status.code), reasonPhrase: answer.status.reasonPhrase),
            headers: Self.returnedHeaders(answer.headers),
            body: ResponseBody(asyncSequence: answer.body)
        )
    }

    /// The request's end-to-end headers, without `Host` and the framing headers (the client sets both), plus the
    /// `X-Forwarded-*` set of an edge proxy, as the nginx gateway sends it (`services/gateway/routes.conf`):
    /// `X-Forwarded-For` is the TCP peer alone, replacing whatever the client sent (a client-written chain would let it
    /// choose the address identity's per-address limits count); `X-Forwarded-Host` is the `Host` the client asked for
    /// (identity compares a browser's `Origin` with it); `X-Forwarded-Proto` is `http`.
    static func forwardedHeaders(_ fields: HTTPFields, authority: String?, peer: String?) -> HTTPHeaders {
        let dropped = droppedNames(fields[values: .connection]).union(Self.forwardedNames)
        var headers = HTTPHeaders()
        for field in fields where !dropped.contains(field.name.canonicalName) {
            headers.add(name: field.name.rawName, value: field.value)
        }
        if let peer { headers.add(name: "X-Forwarded-For", value: peer) }
        if let authority { headers.add(name: "X-Forwarded-Host", value: authority) }
        headers.add(name: "X-Forwarded-Proto", value: "http")
        return headers
    }

    /// Request headers the gateway writes itself and never passes on from the client.
    static let forwardedNames: Set<String> = [
        "host", "content-length", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "x-real-ip", "forwarded",
    ]

    /// The response's end-to-end headers, each field kept separate (two `Set-Cookie` stay two).
    static func returnedHeaders(_ headers: HTTPHeaders) -> HTTPFields {
        let dropped = droppedNames(headers[canonicalForm: "connection"].map(String.init))
        var fields = HTTPFields()
        for (name, value) in headers where !dropped.contains(name.lowercased()) {
            if let fieldName = HTTPField.Name(name) { fields.append(HTTPField(name: fieldName, value: value)) }
        }
        return fields
    }

    private static func droppedNames(_ connectionValues: [String]) -> Set<String> {
        let named = connectionValues.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        return hopByHop.union(named)
    }
}

extension HTTPField.Name {
    /// `X-Forwarded-For` (de facto standard; identity reads it from trusted proxies only).
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
