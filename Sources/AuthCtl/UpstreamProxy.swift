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
        /// `http://host:port`, no trailing slash.
        let baseURL: String
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
        outgoing.headers = Self.forwardedHeaders(request.headers, peer: peer)
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

    /// The request's end-to-end headers, without `Host` and the framing headers (the client sets both), plus
    /// `X-Forwarded-For` (the peer appended, as nginx's `$proxy_add_x_forwarded_for`) and `X-Forwarded-Proto`.
    static func forwardedHeaders(_ fields: HTTPFields, peer: String?) -> HTTPHeaders {
        let dropped = droppedNames(fields[values: .connection]).union(["host", "content-length", "x-forwarded-for", "x-forwarded-proto"])
        var headers = HTTPHeaders()
        for field in fields where !dropped.contains(field.name.canonicalName) {
            headers.add(name: field.name.rawName, value: field.value)
        }
        let chain = fields[values: .xForwardedFor] + (peer.map { [$0] } ?? [])
        if !chain.isEmpty { headers.add(name: "X-Forwarded-For", value: chain.joined(separator: ", ")) }
        headers.add(name: "X-Forwarded-Proto", value: "http")
        return headers
    }

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
