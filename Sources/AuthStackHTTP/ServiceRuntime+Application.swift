import Hummingbird
import HummingbirdCore
import NIOCore
import ServiceLifecycle

extension ServiceRuntime {
    /// A Hummingbird application for `router`, listening where `settings` say. With an `inline` responder, the
    /// requests it accepts are answered on the event loop without reaching the router (``InlineResponder``).
    ///
    /// Two more listeners run inside it when asked for, and stop with it:
    /// - `settings.metrics`: `/metrics` alone, on its own address (the main router then has no `/metrics`, see
    ///   ``makeRouter(context:corsOrigins:metrics:)``);
    /// - `unixSocket`: the same router on a Unix domain socket (`path`), for a proxy on this machine that must be told
    ///   apart from other local clients (identity's `IDENTITY_PROXY_SOCKET`); `setting` names it in a failure.
    public func makeApplication<Context: RequestContext>(
        router: ServiceRouter<Context>,
        settings: ServiceSettings,
        serverName: String,
        inline: (any InlineResponder)? = nil,
        unixSocket: (path: String, setting: String)? = nil,
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
        // A second server that runs and stops with the application, its failures named by `settings`.
        func listener<C: RequestContext>(_ router: Router<C>, at address: BindAddress, named name: String, settings: [String]) -> any Service
        where C.Source == ApplicationRequestContextSource {
            let application = Application(
                router: router,
                server: .http1(configuration: http1),
                configuration: .init(address: address, serverName: serverName),
                logger: logger
            )
            return AdditionalListener(application: application, address: name, settings: settings)
        }
        var listeners: [any Service] = []
        if let metrics = settings.metrics {
            let metricsRouter = Router(context: BasicRequestContext.self)
            OperationalRoutes(registry: registry, readiness: readiness).addMetricsRoute(to: metricsRouter)
            listeners.append(
                listener(
                    metricsRouter,
                    at: .hostname(metrics.host, port: metrics.port),
                    named: "\(metrics.host):\(metrics.port)",
                    settings: ["METRICS_PORT", "METRICS_HOST"]
                )
            )
        }
        if let unixSocket {
            listeners.append(
                listener(router.router, at: .unixDomainSocket(path: unixSocket.path), named: unixSocket.path, settings: [unixSocket.setting])
            )
        }
        return Application(
            router: router.router,
            server: server,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: serverName),
            services: services + listeners,
            logger: logger
        )
    }
}

/// A listener that could not start or stopped with an error: where, why, and the settings (without the service's
/// prefix) that move it. ``ServiceLauncher`` prints it as its one line.
public struct ListenerFailure: Error, CustomStringConvertible {
    /// `host:port` or a socket path.
    public let address: String
    /// The settings that choose the address, without the `<PREFIX>_`.
    public let settings: [String]
    /// What went wrong.
    public let underlying: any Error

    public var description: String { "cannot listen on \(address): \(underlying)" }
}

/// A second server inside a service's application: it runs and stops with the application's service group.
struct AdditionalListener<App: ApplicationProtocol>: Service {
    let application: App
    let address: String
    let settings: [String]

    func run() async throws {
        do {
            try await application.run()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ListenerFailure(address: address, settings: settings, underlying: error)
        }
    }
}
