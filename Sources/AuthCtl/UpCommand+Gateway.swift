import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The gateway part of `authctl up`: where the web client's files are, and the in-process gateway's lifetime.
extension UpCommand {
    /// The web client's directory: `--web-root` when given, else `web/` in the current directory, else `web/` in the
    /// package that holds this authctl binary (`<package>/.build/<config>/authctl`), so `swift run authctl up` and
    /// `.build/debug/authctl up` both work from anywhere inside or outside the checkout.
    static func locateWebRoot(explicit: String?, currentDirectory: String, executable: URL?) throws -> String {
        let hasIndex = { (directory: String) in FileManager.default.fileExists(atPath: directory + "/index.html") }
        if let explicit {
            guard hasIndex(explicit) else { throw CommandFailure("--web-root \(explicit) has no index.html") }
            return explicit
        }
        var candidates = [currentDirectory + "/web"]
        var directory = executable?.resolvingSymlinksInPath().deletingLastPathComponent()
        while let current = directory, current.path != "/" {
            if FileManager.default.fileExists(atPath: current.path + "/Package.swift") { candidates.append(current.path + "/web") }
            directory = current.deletingLastPathComponent()
        }
        guard let found = candidates.first(where: hasIndex) else {
            throw CommandFailure(
                "cannot find the web client (web/index.html) in the current directory or in the package that holds authctl; "
                    + "run from the repository root or pass --web-root DIR"
            )
        }
        return found
    }

    /// The services the gateway sends requests to: identity on its proxy socket, notes on its port.
    func gatewayUpstreams(proxySocket: String) -> (identity: UpstreamProxy.Upstream, notes: UpstreamProxy.Upstream) {
        (.init(name: "identity", socketPath: proxySocket), .init(name: "notes", baseURL: "http://\(Self.urlHost(host)):\(notesPort)"))
    }

    /// Where identity's proxy socket goes: `identity.sock` in the data directory, which the services keep at 0700 and
    /// `up` creates so, so only this user can connect, and a socket left by a killed run is replaced by the next one.
    /// When that path is too long for a Unix socket address (about 100 bytes), a fresh 0700 directory under `$TMPDIR`
    /// or `/tmp` holds it instead; `temporaryDirectory` is then that directory, to remove at exit.
    static func proxySocket(dataDirectory: String) throws -> (path: String, temporaryDirectory: String?) {
        let inData = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path + "/identity.sock"
        if inData.utf8.count <= 100 { return (inData, nil) }
        var base = NSTemporaryDirectory()
        if base.utf8.count > 60 { base = "/tmp/" }
        var template = Array((base.hasSuffix("/") ? base : base + "/").utf8CString.dropLast()) + Array("authstack-up.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw CommandFailure("cannot create a private directory in \(base): \(String(cString: strerror(errno)))")
        }
        let directory = String(cString: made)
        return (directory + "/identity.sock", directory)
    }
}

/// Runs the gateway in this process until stopped; a gateway that cannot listen reports it as a `notReady` event.
struct GatewayRunner {
    private let group: ServiceGroup
    private let task: Task<Void, Never>

    /// Starts serving; the HTTP client it proxies with lives exactly as long as the server.
    init(
        host: String,
        port: Int,
        webRoot: String,
        upstreams: (identity: UpstreamProxy.Upstream, notes: UpstreamProxy.Upstream),
        supervisor: Supervisor
    ) {
        var logger = Logger(label: "gateway")
        logger.logLevel = .warning
        let client = UpstreamProxy.makeClient()
        let gateway = Gateway(
            webRoot: webRoot,
            identity: upstreams.identity,
            notes: upstreams.notes,
            proxy: UpstreamProxy(client: client, timeout: .seconds(60))
        )
        // authctl handles the signals itself (Supervisor); the group only runs the server and shuts it down gracefully.
        let group = ServiceGroup(configuration: .init(services: [gateway.application(host: host, port: port, logger: logger)], logger: logger))
        self.group = group
        task = Task {
            do {
                try await group.run()
            } catch {
                supervisor.post(.notReady("the gateway could not serve on \(host):\(port): \(error)"))
            }
            try? await client.shutdown()
        }
    }

    /// Stops accepting, lets requests in flight finish, closes idle connections and the proxy's client.
    func stop() async {
        await group.triggerGracefulShutdown()
        await task.value
    }
}
