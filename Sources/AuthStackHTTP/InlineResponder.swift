import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Answers a request on the connection's event loop, with no task, no `await` and no thread hand-off.
///
/// Hummingbird runs every request in a Swift task: the event loop hands the request to a task on the cooperative pool,
/// and the task hands the response back, two wake-ups across threads per request (three with a GRDB read, which
/// runs on its own dispatch queue). For a read as small as `GET /notes` those hand-offs cost several times the work
/// itself (docs/benchmarks.md, "HTTP services"). An inline responder serves such a route synchronously on the event
/// loop that read the request; everything else — and any request it is not sure about — goes to the router as usual.
///
/// The contract: return a response only for the plain success case, and nil for anything else (a missing or invalid
/// token, a malformed query, a store error, an unknown kid that needs a keyring refresh...). The router then answers
/// that request exactly as it always would, so errors keep one implementation. The work done inline must be short and
/// bounded: it holds up every other connection of the event loop while it runs.
public protocol InlineResponder: Sendable {
    /// The response to `request` (a `GET` without a body or `Origin`, see ``InlineResponseHandler/isCandidate(_:)``),
    /// or nil to let the router answer it.
    func respond(to request: HTTPRequest) -> InlineResponse?
}

/// A complete response computed inline. ``InlineResponseHandler`` adds what the router's middleware would:
/// `Content-Length`, `Date`, `Server`, `X-Request-ID`, the access log line and the HTTP metrics.
public struct InlineResponse: Sendable {
    /// The route pattern, as the router would report it in logs and metrics (`/notes`).
    public var route: String
    public var status: HTTPResponse.Status
    public var headers: HTTPFields
    public var body: ByteBuffer

    public init(route: String, status: HTTPResponse.Status, headers: HTTPFields, body: ByteBuffer) {
        self.route = route
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// What the inline path shares with the router's middleware: the server name, metrics and access log.
public struct InlineResponseContext: Sendable {
    let serverName: String
    let metrics: HTTPMetrics
    let logger: Logger
}

/// Serves ``InlineResponder`` answers in the connection's pipeline, between Hummingbird's connection-state handler
/// (idle timeout, graceful shutdown; it sees every request and response, inline or not) and the channel that feeds
/// the router.
///
/// Order is kept under HTTP/1.1 pipelining: while any request handed to the router has not been answered, every
/// following request goes to the router too, so responses leave in request order. A candidate's head is held until
/// its end arrives (a bodiless `GET` has both in one read); if the responder declines, head and end go on unchanged.
/// One instance per connection, used on its event loop only.
public final class InlineResponseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private let responder: any InlineResponder
    private let shared: InlineResponseContext
    /// Requests handed to the router whose response has not ended yet.
    private var routerRequestsInFlight = 0
    /// A candidate whose end has not arrived, and when its head did.
    private var held: (request: HTTPRequest, start: ContinuousClock.Instant)?
    /// Responses written since the last flush: flushed once per read, so pipelined answers share a write.
    private var needsFlush = false
    private var date = HTTPDate()

    init(responder: any InlineResponder, context: InlineResponseContext) {
        self.responder = responder
        self.shared = context
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            if routerRequestsInFlight == 0, Self.isCandidate(request) {
                held = (request, .now)
                return
            }
            routerRequestsInFlight += 1
            context.fireChannelRead(data)
        case .body:
            // A candidate has no body by its headers; should one arrive anyway, the router gets the whole request.
            releaseHeld(context)
            context.fireChannelRead(data)
        case .end(let trailers):
            guard let (request, start) = held else {
                context.fireChannelRead(data)
                return
            }
            held = nil
            if trailers == nil, let response = responder.respond(to: request) {
                write(response, to: request, started: start, context: context)
            } else {
                routerRequestsInFlight += 1
                context.fireChannelRead(wrapInboundOut(.head(request)))
                context.fireChannelRead(data)
            }
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { routerRequestsInFlight -= 1 }
        context.write(data, promise: promise)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        releaseHeld(context)
    }

    /// Hands a held head to the router.
    private func releaseHeld(_ context: ChannelHandlerContext) {
        guard let (request, _) = held else { return }
        held = nil
        routerRequestsInFlight += 1
        context.fireChannelRead(wrapInboundOut(.head(request)))
    }

    private func write(_ response: InlineResponse, to request: HTTPRequest, started: ContinuousClock.Instant, context: ChannelHandlerContext) {
        let requestID = RequestLogMiddleware<BasicRequestContext>.requestID(from: request.headerFields) ?? RequestID().description
        var fields = response.headers
        fields[.contentLength] = String(response.body.readableBytes)
        fields[RequestLogMiddleware<BasicRequestContext>.headerName] = requestID
        fields[.date] = date.now()
        fields[.server] = shared.serverName
        context.write(wrapOutboundOut(.head(HTTPResponse(status: response.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(response.body)), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        needsFlush = true
        let elapsed = ContinuousClock.now - started
        shared.metrics.record(route: response.route, method: request.method, status: response.status, duration: elapsed)
        shared.metrics.recordInline(route: response.route)
        RequestLogMiddleware<BasicRequestContext>.logAccess(
            shared.logger,
            requestID: requestID,
            method: request.method,
            route: response.route,
            status: response.status,
            elapsed: elapsed
        )
    }

    /// A `GET` with no body and nothing that the router's middleware treats specially: no `Origin` (CORS answers
    /// differ per origin), and no `Connection` header but `keep-alive` (the router closes after `Connection: close`;
    /// browsers and many clients send `keep-alive` on every request).
    static func isCandidate(_ request: HTTPRequest) -> Bool {
        guard request.method == .get else { return false }
        let fields = request.headerFields
        if let length = fields[.contentLength], length != "0" { return false }
        if let connection = fields[.connection], !connection.utf8.elementsEqual("keep-alive".utf8, by: { $0 | 0x20 == $1 }) { return false }
        return fields[.transferEncoding] == nil && fields[.origin] == nil
    }
}

/// Hummingbird's HTTP/1.1 child channel with an ``InlineResponseHandler`` in each connection's pipeline: the same
/// handlers in the same order as `HTTP1Channel` (codec, the caller's handlers, connection state), then the inline
/// handler, then the channel that feeds the router.
public struct InlineHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    public typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    public let responder: HTTPChannelHandler.Responder
    let inline: any InlineResponder
    let context: InlineResponseContext
    /// The configuration `HTTP1Channel` would get: the same handlers, idle timeout and decoder limits.
    let configuration: HTTP1Channel.Configuration

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = configuration.httpDecoder.maxHeaderFieldSize
            limits.maxHeaderListSize = configuration.httpDecoder.maxHeaderListSize
            limits.maxHeaderFieldCount = configuration.httpDecoder.maxHeaderFieldCount
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withPipeliningAssistance: false,  // the router's channel reads one request at a time, as in HTTP1Channel
                withErrorHandling: false,  // Hummingbird answers parser errors
                withOutboundHeaderValidation: false,  // HTTPTypes validated the fields already
                withEncoderConfiguration: .init(),
                withDecoderLimitConfiguration: limits
            )
            try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try channel.pipeline.syncOperations.addHandlers(configuration.additionalChannelHandlers())
            try channel.pipeline.syncOperations.addHandler(
                HTTPConnectionStateHandler(idleTimeout: configuration.idleTimeout.map { Duration($0) }, logger: logger)
            )
            try channel.pipeline.syncOperations.addHandler(InlineResponseHandler(responder: inline, context: context))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    public func handle(value asyncChannel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}

/// The `Date` header value (IMF-fixdate, RFC 9110 §5.6.7), formatted at most once a second per connection.
struct HTTPDate {
    private var second = -1
    private var text = ""

    mutating func now() -> String {
        let now = time(nil)
        if now != second {
            second = now
            text = Self.format(epochSeconds: now)
        }
        return text
    }

    static func format(epochSeconds: Int) -> String {
        var time = epochSeconds
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
