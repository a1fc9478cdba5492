import AuthStackCore
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request body does not finish arriving within `timeout` of its head — the slow-body half
/// of slowloris, which the idle timeout cannot catch because every trickled body chunk counts as activity. A request
/// whose response has not started gets `408 request_timeout` (problem+json, `Connection: close`) first, like nginx's
/// `client_body_timeout`. Requests without a body (GET, the key service's long-polls) end with their head and never
/// start the timer; a slow *head* is the idle timeout's job (no part of it is activity until it is complete).
///
/// Sits between Hummingbird's HTTP/1 codec and its connection handler (`HTTP1Channel.Configuration
/// .additionalChannelHandlers`); one instance per connection, used on its event loop only.
public final class RequestBodyTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    /// A request head has arrived and its end has not.
    private var readingBody = false
    /// The response to the request being read has begun (a handler may answer before reading the body).
    private var responding = false
    private var timer: Scheduled<Void>?

    /// A handler closing bodies slower than `timeout`.
    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            readingBody = true
        case .body:
            break
        case .end:
            readingBody = false
            cancelTimer()
        }
        context.fireChannelRead(data)
    }

    /// The timer starts only when a read ends with a body still outstanding: a bodiless request's head and end arrive
    /// in one read, so the common path schedules nothing.
    public func channelReadComplete(context: ChannelHandlerContext) {
        if readingBody && timer == nil {
            timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) { [self] in
                timer = nil
                expire(context)
            }
        }
        context.fireChannelReadComplete()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head: responding = true
        case .body: break
        case .end: responding = false
        }
        context.write(data, promise: promise)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
    }

    private func expire(_ context: ChannelHandlerContext) {
        guard readingBody, context.channel.isActive else { return }
        if !responding {
            let body = ProblemDetails(.requestTimeout, detail: "The request body did not arrive in time.").jsonBody()
            let head = HTTPResponse(
                status: .requestTimeout,
                headerFields: [
                    .contentType: ProblemDetails.mediaType, .contentLength: String(body.count), .connection: "close", .cacheControl: "no-store",
                ]
            )
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }
}
