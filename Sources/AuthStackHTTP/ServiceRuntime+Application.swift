import Hummingbird
import HummingbirdCore
import NIOCore
import ServiceLifecycle

extension ServiceRuntime {
    /// A Hummingbird application for `router`, listening where `settings` say. With an `inline` responder, the
    /// requests it accepts are answered on the event loop without reaching the router (``InlineResponder``).
    public func makeApplication<Context: RequestContext>(
        router: ServiceRouter<Context>,
        settings: ServiceSettings,
        serverName: String,
        inline: (any InlineResponder)? = nil,
        services: [any Service] = []
    ) -> some ApplicationProtocol where Context.Source == ApplicationRequestContextSource {
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestBodyTimeoutHandler(timeout: .milliseconds(Int64(settings.bodyTimeout * 1000)))],
            idleTimeout: .milliseconds(Int64(settings.idleTimeout * 1000))
        )
        let server: HTTPServerBuilder
        if let inline {
            let context = InlineResponseContext(serverName: serverName, metrics: httpMetrics, logger: logger)
            server = HTTPServerBuilder { responder in
                InlineHTTP1Channel(responder: responder, inline: inline, context: context, configuration: http1)
            }
        } else {
            server = .http1(configuration: http1)
        }
        return Application(
            router: router.router,
            server: server,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: serverName),
            services: services,
            logger: logger
        )
    }
}
