import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A key service application run in-process on a fixed loopback port, so that it can be stopped and
/// restarted where its followers look for it (HummingbirdTesting's live mode always picks a new port).
package struct RunningKeyService {
    package let port: Int
    private let service: RunningService

    /// Starts the fixture's key service on `port`, or on a port the kernel picks (the `port` property tells which).
    /// A restart on the port of a stopped instance binds at once: the stop closed the listener, and SO_REUSEADDR lets
    /// the new one bind past the old connections' TIME_WAIT. (It once seemed to need a retry loop; the real cause was
    /// the PostgreSQL test cluster inheriting the suite's sockets — see `TestPostgres.closeInheritedDescriptors`.)
    package static func start(_ fixture: KeyServiceFixture, port: Int = 0) async throws -> RunningKeyService {
        let service = try await RunningService.start(try await fixture.application(port: port), port: port)
        return RunningKeyService(port: service.port, service: service)
    }

    package func request(_ path: String, method: HTTPMethod = .GET, token: String? = nil) async throws -> (status: HTTPResponseStatus, body: Data) {
        try await service.request(path, method: method, token: token)
    }

    package func stop() async { await service.stop() }
}

/// Any application run in-process on a fixed 127.0.0.1 port until `stop()` (HummingbirdTesting's live mode binds
/// "localhost" on a new port each time).
package struct RunningService {
    package let port: Int
    package let group: ServiceGroup
    package let task: Task<Void, any Error>

    /// A client that gives up connecting after 1 s instead of retrying for 10 s like the shared one.
    package static let http = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(1)))
    )

    package func request(
        _ path: String,
        method: HTTPMethod = .GET,
        token: String? = nil,
        timeout: TimeAmount = .seconds(30)
    ) async throws -> (status: HTTPResponseStatus, body: Data) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await Self.http.execute(request, timeout: timeout)
        return (response.status, Data(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    package func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

/// A port nobody listens on now, so a service can be stopped and restarted on it. Drawn from below the kernel's
/// ephemeral range (32768–60999 here): a port-0 bind elsewhere in the suite can then never take it over while the
/// service is down between a stop and its restart.
package func freePortForTest() async throws -> Int {
    for _ in 0..<100 {
        let candidate = Int.random(in: 20_000..<30_000)
        // Without SO_REUSEADDR: a port with connections still in TIME_WAIT is skipped too.
        if let channel = try? await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: candidate).get() {
            try await channel.close()
            return candidate
        }
    }
    throw CancellationError()
}

/// Runs an application on 127.0.0.1 with a port the kernel picks, and reports that port: for tests that talk to it
/// with raw sockets and need the exact address (HummingbirdTesting's live mode binds "localhost").
struct PortReportingApplication<Base: ApplicationProtocol>: ApplicationProtocol {
    final class Port: Sendable {
        let value = Mutex<Int?>(nil)
    }

    typealias Responder = Base.Responder
    let base: Base
    let reported = Port()
    let requestedPort: Int

    var responder: Responder { get async throws { try await base.responder } }
    var server: HTTPServerBuilder { base.server }
    var eventLoopGroup: any EventLoopGroup { base.eventLoopGroup }
    var configuration: ApplicationConfiguration { base.configuration.with(address: .hostname("127.0.0.1", port: requestedPort)) }
    var logger: Logger { base.logger }
    var services: [any Service] { base.services }
    var processesRunBeforeServerStart: [@Sendable () async throws -> Void] { base.processesRunBeforeServerStart }

    @Sendable func onServerRunning(_ channel: any Channel) async {
        await base.onServerRunning(channel)
        reported.value.withLock { $0 = channel.localAddress?.port }
    }
}

extension RunningService {
    /// Starts `app` on 127.0.0.1 at `port`, or at a port the kernel picks when `port` is 0, and waits until it
    /// listens; the application's start-up error (a taken port, say) is thrown as is.
    package static func start(_ app: some ApplicationProtocol, port: Int = 0) async throws -> RunningService {
        let reporting = PortReportingApplication(base: app, requestedPort: port)
        let group = ServiceGroup(configuration: .init(services: [port == 0 ? reporting as any Service : app], logger: Logger(label: "service")))
        let task = Task { try await group.run() }
        // A watcher records how the application ended, if it ends before listening (a taken port, say).
        let ended = Mutex<(any Error)??>(nil)
        let watcher = Task {
            switch await task.result {
            case .success: ended.withLock { $0 = .some(nil) }
            case .failure(let error): ended.withLock { $0 = .some(error) }
            }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if port == 0 {
                if let bound = reporting.reported.value.withLock({ $0 }) { return RunningService(port: bound, group: group, task: task) }
            } else {
                let service = RunningService(port: port, group: group, task: task)
                if (try? await service.request("/healthz", timeout: .seconds(2)).status.code) == 200 { return service }
            }
            if let outcome = ended.withLock({ $0 }) {
                if let error = outcome { throw error }
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        await group.triggerGracefulShutdown()
        _ = await task.result
        _ = await watcher.value
        throw CancellationError()
    }
}
