import ArgumentParser
import AsyncHTTPClient
import AuthStackCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import Testing

@testable import AuthCtl

/// `authctl up`'s gateway: one origin for the web client (`/app/`) and both APIs, like the compose gateway.
@Suite struct AuthCtlGatewayTests {
    // MARK: The route table

    /// The compose gateway's nginx.conf (its `include routes.conf` followed), found from this file.
    static let nginxConfiguration = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("services/gateway/nginx.conf")

    /// The one comparison of the two gateways: every `location` of the compose gateway is an entry of
    /// `GatewayRoutes.all` with the same destination and the other way round, both send every other path to the same
    /// 404 problem, and both answer `/healthz` alike. A route added to one and not the other fails here.
    @Test func theRouteTableIsTheComposeGatewaysLocationBlocks() throws {
        let nginx = try NginxRouteTable(contentsOf: Self.nginxConfiguration)
        #expect(nginx.routes == GatewayRoutes.all.map(NginxRouteTable.line).sorted())
        #expect(nginx.fallbackIsNotFound, "nginx's `location /` answers every unlisted path with 404")
        #expect(nginx.notFound.body == String(decoding: GatewayRoutes.notFound.jsonBody(), as: UTF8.self))
        #expect(nginx.notFound.contentType == ProblemDetails.mediaType)
        #expect(nginx.healthBody == GatewayRoutes.healthBody)
        // The regexes really match the paths read out of them (a check on RegexPaths).
        for location in try NginxConfiguration(contentsOf: Self.nginxConfiguration).all("location") where location.arguments.first == "~" {
            let regex = try NSRegularExpression(pattern: location.arguments[1])
            for path in try RegexPaths.expand(location.arguments[1]).map({ $0.replacingOccurrences(of: "{}", with: "x_1") }) {
                #expect(regex.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) != nil, "\(location.arguments[1]) matches \(path)")
            }
        }
    }

    /// What the table sends each path to; changed from the old fall-through (where `/application`, `/v10`,
    /// `/notes-archive`, `/metrics`, `/readyz` and `/` all went to identity).
    @Test(
        arguments: [
            ("/app/", GatewayRoutes.Destination.webClient), ("/app/app.js", .webClient), ("/app", .redirect(status: 301, location: "/app/")),
            ("/", .redirect(status: 302, location: "/app/")), ("/healthz", .health), ("/login", .identity), ("/logout-all", .identity),
            ("/sessions", .identity), ("/sessions/s_1", .identity), ("/notes", .notes), ("/notes/n_1", .notes), ("/%6Cogin", .identity),
        ] as [(String, GatewayRoutes.Destination)]
    )
    func routesListedPaths(path: String, destination: GatewayRoutes.Destination) {
        #expect(GatewayRoutes.destination(of: path) == destination)
    }

    @Test(arguments: [
        "/application", "/v1", "/v1/keyring", "/v1/keys", "/v10", "/notes-archive", "/notes/", "/notes/a/b", "/notes/a%2Fb", "/notes/%2e%2e",
        "/login/", "/me/x", "/sessions/a/b", "/metrics", "/readyz", "/healthz/x", "//notes", "/%zz", "",
    ])
    func everyOtherPathIsNotFound(path: String) {
        #expect(GatewayRoutes.destination(of: path) == nil)
    }

    @Test func noTwoEntriesOfTheTableMatchTheSamePath() {
        for route in GatewayRoutes.all {
            let path = Self.samplePath(route.pattern)
            #expect(GatewayRoutes.all.filter { $0.pattern.matches(path) } == [route], "\(path)")
        }
    }

    @Test func everyListedRouteReachesItsUpstream() async throws {
        try await withGateway(site: try WebSite()) { client, upstreams in
            var forwarded: [String] = []
            for route in GatewayRoutes.all {
                let path = Self.samplePath(route.pattern)
                let proxied = try await client.execute(uri: path, method: .get) { response -> String? in
                    switch route.destination {
                    case .identity, .notes:
                        #expect(response.status == .ok, "\(path)")
                        return "\(route.destination) \(path)"
                    case .webClient:
                        #expect(response.status == .ok && String(buffer: response.body) == WebSite.index, "\(path)")
                    case .redirect(let status, let location):
                        #expect(response.status.code == status && response.headers[.location] == location, "\(path)")
                    case .health:
                        #expect(response.status == .ok && String(buffer: response.body) == GatewayRoutes.healthBody)
                        #expect(response.headers[.contentType] == "application/json" && response.headers[.cacheControl] == "no-store")
                    }
                    return nil
                }
                if let proxied { forwarded.append(proxied) }
            }
            #expect(upstreams.seen() == forwarded, "each service path reached its service and nothing else did")
            #expect(forwarded.count == 11)
        }
    }

    @Test(arguments: ["/metrics", "/readyz", "/v1/keys", "/v1/keyring", "/notes-archive", "/application", "/notes/a/b", "/app/missing.js"])
    func pathsOutsideTheTableGetNginxsNotFoundProblemAndAreNeverForwarded(uri: String) async throws {
        let nginx = try NginxRouteTable(contentsOf: Self.nginxConfiguration)
        try await withGateway(site: try WebSite()) { client, upstreams in
            for method in [HTTPRequest.Method.get, .post] {
                try await client.execute(uri: uri, method: method) { response in
                    #expect(response.status == .notFound)
                    #expect(response.headers[.contentType] == ProblemDetails.mediaType)
                    #expect(String(buffer: response.body) == nginx.notFound.body, "the body nginx's @not_found sends")
                }
            }
            #expect(upstreams.seen().isEmpty)
        }
    }

    /// A path `pattern` matches: placeholders filled in, a prefix as it is.
    static func samplePath(_ pattern: GatewayRoutes.Pattern) -> String {
        switch pattern {
        case .path(let path):
            path.split(separator: "/", omittingEmptySubsequences: false)
                .map { GatewayRoutes.Pattern.isPlaceholder($0) ? "x_1" : String($0) }.joined(separator: "/")
        case .prefix(let prefix):
            prefix
        }
    }

    // MARK: Behaviour through the gateway

    @Test func servesTheWebClientWithHardeningHeadersAndRedirectsTheBareDirectory() async throws {
        let site = try WebSite()
        try await withGateway(site: site) { client, _ in
            try await client.execute(uri: "/app/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == WebSite.index)
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(response.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
                #expect(response.headers[.xContentTypeOptions] == "nosniff")
            }
            try await client.execute(uri: "/app/app.js", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.contains("javascript") == true)
            }
            try await client.execute(uri: "/app", method: .get) { response in
                #expect(response.status == .movedPermanently)
                #expect(response.headers[.location] == "/app/")
            }
            try await client.execute(uri: "/app/missing.js", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test(arguments: ["/app/../secret.txt", "/app/%2e%2e/secret.txt", "/app/..%2fsecret.txt", "/app/%2E%2E%2Fsecret.txt"])
    func pathTraversalOutOfTheWebRootIsRefused(uri: String) async throws {
        let site = try WebSite()
        try await withGateway(site: site) { client, upstreams in
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == .badRequest)
                #expect(!String(buffer: response.body).contains(WebSite.secret))
                #expect(response.headers[.contentType] == ProblemDetails.mediaType)
            }
            #expect(upstreams.seen().isEmpty, "nothing under /app/ goes to a service")
        }
    }

    @Test func keyServicePathsAreNotFoundAndNeverForwarded() async throws {
        try await withGateway(site: try WebSite()) { client, upstreams in
            for uri in ["/v1/keyring", "/v1", "/v1/keys/rotate?force=true"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .notFound)
                    let problem = try JSONDecoder().decode(ProblemDetails.self, from: Data(buffer: response.body))
                    #expect(problem.code == .notFound)
                }
            }
            try await client.execute(uri: "/v1/keys/rotate", method: .post) { #expect($0.status == .notFound) }
            #expect(upstreams.seen().isEmpty)
        }
    }

    @Test func forwardsMethodPathQueryBodyAndEndToEndHeadersToTheRightService() async throws {
        try await withGateway(site: try WebSite()) { client, upstreams in
            let echo = try await client.execute(
                uri: "/notes/n_1?limit=5&cursor=a%2Fb",
                method: .patch,
                headers: [
                    .authorization: "Bearer abc", .contentType: "application/json", .cookie: "refresh_token=rt_x",
                    .xForwardedFor: "203.0.113.7", HTTPField.Name("Proxy-Authorization")!: "Basic eA==", .te: "trailers", .userAgent: "tests",
                ],
                body: ByteBuffer(string: #"{"title":"t"}"#)
            ) { response in
                #expect(response.status == .ok)
                return try JSONDecoder().decode(Echo.self, from: Data(buffer: response.body))
            }
            #expect(echo.service == "notes")
            #expect(echo.method == "PATCH")
            #expect(echo.uri == "/notes/n_1?limit=5&cursor=a%2Fb")
            #expect(echo.body == #"{"title":"t"}"#)
            #expect(echo.headers["authorization"] == ["Bearer abc"])
            #expect(echo.headers["cookie"] == ["refresh_token=rt_x"])
            #expect(echo.headers["user-agent"] == ["tests"])
            #expect(echo.headers["x-forwarded-for"] == ["127.0.0.1"], "the client's header is replaced by the TCP peer, as nginx's $remote_addr")
            #expect(echo.headers["x-forwarded-host"]?.count == 1, "the Host the client asked for goes up as X-Forwarded-Host")
            #expect(echo.headers["x-forwarded-proto"] == ["http"])
            #expect(echo.headers["proxy-authorization"] == nil && echo.headers["te"] == nil, "hop-by-hop headers stay on their hop")
            #expect(echo.host == "127.0.0.1:\(upstreams.notesPort)", "Host names the upstream")

            let login = try await client.execute(uri: "/login", method: .post, body: ByteBuffer(string: "{}")) {
                try JSONDecoder().decode(Echo.self, from: Data(buffer: $0.body))
            }
            #expect(login.service == "identity")
            #expect(login.method == "POST" && login.uri == "/login" && login.body == "{}")
            #expect(upstreams.seen() == ["notes /notes/n_1", "identity /login"])
        }
    }

    @Test func headersNamedByConnectionAndOtherHopByHopHeadersAreNotForwardedEitherWay() {
        let up = UpstreamProxy.forwardedHeaders(
            [
                .connection: "close, X-Hop", HTTPField.Name("X-Hop")!: "secret", HTTPField.Name("Keep-Alive")!: "timeout=5",
                .transferEncoding: "chunked", .contentLength: "3", .authorization: "Bearer abc", .xForwardedFor: "203.0.113.7",
                HTTPField.Name("X-Forwarded-Proto")!: "https", HTTPField.Name("X-Forwarded-Host")!: "evil.example",
                HTTPField.Name("X-Real-IP")!: "203.0.113.8", HTTPField.Name("Forwarded")!: "for=203.0.113.9",
            ],
            authority: "app.example:8080",
            peer: "::1"
        )
        #expect(up.map(\.name).sorted() == ["Authorization", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"])
        #expect(up["X-Forwarded-For"] == ["::1"], "replaced by the peer: a client-written chain would choose identity's throttle key")
        #expect(up["X-Forwarded-Host"] == ["app.example:8080"], "the Host the client asked for, not a header it wrote")
        #expect(up["X-Forwarded-Proto"] == ["http"], "the gateway speaks plain HTTP; a client's claim is not passed on")

        let down = UpstreamProxy.returnedHeaders(
            HTTPHeaders([
                ("Connection", "X-Trace"), ("X-Trace", "1"), ("Transfer-Encoding", "chunked"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                ("Content-Length", "0"),
            ])
        )
        #expect(down.map(\.description) == ["Set-Cookie: a=1", "Set-Cookie: b=2", "Content-Length: 0"])
    }

    @Test func returnsEveryResponseHeaderIncludingTwoSetCookiesAndDoesNotFollowRedirects() async throws {
        try await withGateway(site: try WebSite()) { client, _ in
            try await client.execute(uri: "/refresh", method: .post) { response in
                #expect(response.status == .ok)
                #expect(response.headers[values: .setCookie] == ["a=1; Path=/; HttpOnly", "refresh_token=rt_y; Path=/; HttpOnly; SameSite=Strict"])
                #expect(response.headers[.cacheControl] == "no-store")
            }
            try await client.execute(uri: "/sessions/redirect", method: .get) { response in
                #expect(response.status == .found)
                #expect(response.headers[.location] == "/elsewhere")
            }
            try await client.execute(uri: "/notes/challenge", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="notes", error="invalid_token""#)
                #expect(response.headers[.retryAfter] == "7")
                #expect(String(buffer: response.body) == "denied")
            }
        }
    }

    @Test func anUpstreamThatIsDownIsA502ProblemAndTheGatewayKeepsServing() async throws {
        let site = try WebSite()
        let closedPort = try await Self.closedPort()
        let down = UpstreamProxy.Upstream(name: "notes", baseURL: "http://127.0.0.1:\(closedPort)")
        try await withProxyClient { proxy in
            let gateway = Gateway(webRoot: site.root, identity: down, notes: down, proxy: proxy)
            try await gateway.application(host: "127.0.0.1", port: 0, logger: Logger(label: "test")).test(.live) { client in
                for uri in ["/notes", "/login"] {
                    try await client.execute(uri: uri, method: .get) { response in
                        #expect(response.status == .badGateway)
                        #expect(response.headers[.contentType] == ProblemDetails.mediaType)
                        let problem = try JSONDecoder().decode(ProblemDetails.self, from: Data(buffer: response.body))
                        #expect(problem.code == .badGateway)
                        #expect(problem.detail.contains("notes service is not reachable"))
                    }
                }
                try await client.execute(uri: "/app/", method: .get) { #expect($0.status == .ok) }
            }
        }
    }

    // MARK: authctl up's options

    @Test func webRootIsFoundHereOrInThePackageThatHoldsAuthctlOrNamed() throws {
        let base = NSTemporaryDirectory() + "authctl-web-\(UUID().uuidString)"
        let package = base + "/package"
        try FileManager.default.createDirectory(atPath: package + "/web", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: package + "/.build/debug", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: base + "/elsewhere", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: package + "/Package.swift", contents: Data())
        _ = FileManager.default.createFile(atPath: package + "/web/index.html", contents: Data("<!doctype html>".utf8))
        let binary = URL(fileURLWithPath: package + "/.build/debug/authctl")

        #expect(try UpCommand.locateWebRoot(explicit: nil, currentDirectory: package, executable: nil) == package + "/web")
        let fromBinary = try UpCommand.locateWebRoot(explicit: nil, currentDirectory: base + "/elsewhere", executable: binary)
        #expect(URL(fileURLWithPath: fromBinary).resolvingSymlinksInPath() == URL(fileURLWithPath: package + "/web").resolvingSymlinksInPath())
        #expect(try UpCommand.locateWebRoot(explicit: package + "/web", currentDirectory: base, executable: nil) == package + "/web")
        #expect { try UpCommand.locateWebRoot(explicit: base + "/elsewhere", currentDirectory: package, executable: nil) } throws: {
            "\($0)".contains("--web-root") && "\($0)".contains("index.html")
        }
        #expect { try UpCommand.locateWebRoot(explicit: nil, currentDirectory: base + "/elsewhere", executable: nil) } throws: {
            "\($0)".contains("--web-root")
        }
    }

    @Test func upNamesABusyGatewayPortAndRefusesSharedPorts() async throws {
        let site = try WebSite()
        let binaries = NSTemporaryDirectory() + "authctl-bin-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: binaries, withIntermediateDirectories: true)
        for name in ["key-service", "identity-service", "notes-service"] {
            let script = Data("#!/bin/sh\nexit 1\n".utf8)
            _ = FileManager.default.createFile(atPath: binaries + "/" + name, contents: script, attributes: [.posixPermissions: 0o755])
        }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let busy = try #require(channel.localAddress?.port)
        // The gateway's port is checked first, so the services' ports (free now, maybe taken by a parallel test later)
        // are never looked at.
        let free = [try await Self.closedPort(), try await Self.closedPort(), try await Self.closedPort()]
        let up = try #require(
            try AuthCtl.parseAsRoot([
                "up", "--bin-dir", binaries, "--web-root", site.root, "--keys-dir", binaries + "/keys", "--gateway-port", "\(busy)",
                "--identity-port", "\(free[0])", "--notes-port", "\(free[1])", "--keys-port", "\(free[2])",
            ]) as? UpCommand
        )
        await #expect { try await up.run() } throws: {
            "\($0)".contains("port \(busy) for the gateway is in use") && "\($0)".contains("--gateway-port")
        }
        try await channel.close()
        #expect(!FileManager.default.fileExists(atPath: binaries + "/keys"), "nothing was started or written")
        #expect(throws: (any Error).self) { try AuthCtl.parseAsRoot(["up", "--gateway-port", "8081"]) }
        #expect(AuthCtl.helpMessage(for: UpCommand.self).contains("--web-root"))
    }

    // MARK: Fixtures

    /// A web root with a file beside it that must never be served.
    struct WebSite {
        static let index = "<!doctype html><title>test</title>"
        static let secret = "do-not-serve"
        let root: String

        init() throws {
            let base = NSTemporaryDirectory() + "authctl-site-\(UUID().uuidString)"
            root = base + "/web"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            try Data(Self.index.utf8).write(to: URL(fileURLWithPath: root + "/index.html"))
            try Data("console.log(1)".utf8).write(to: URL(fileURLWithPath: root + "/app.js"))
            try Data(Self.secret.utf8).write(to: URL(fileURLWithPath: base + "/secret.txt"))
        }
    }

    /// What a fake service saw, as the JSON it answers with.
    struct Echo: Codable {
        let service: String
        let method: String
        let uri: String
        let host: String?
        let headers: [String: [String]]
        let body: String
    }

    /// The requests both fake services received, as "service path", and their ports.
    struct Upstreams: Sendable {
        let log: NIOLockedValueBox<[String]>
        let identityPort: Int
        let notesPort: Int

        func seen() -> [String] { log.withLockedValue { $0 } }
    }

    /// A fake service: echoes every request as JSON, except a few paths that answer with interesting headers (all of them
    /// paths the gateway forwards).
    struct FakeService: RouterMiddleware {
        typealias Context = BasicRequestContext
        let name: String
        let record: @Sendable (String) -> Void

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            record("\(name) \(request.uri.path)")
            switch request.uri.path {
            case "/refresh":
                var headers: HTTPFields = [.cacheControl: "no-store"]
                headers.append(HTTPField(name: .setCookie, value: "a=1; Path=/; HttpOnly"))
                headers.append(HTTPField(name: .setCookie, value: "refresh_token=rt_y; Path=/; HttpOnly; SameSite=Strict"))
                return Response(status: .ok, headers: headers)
            case "/sessions/redirect":
                return Response(status: .found, headers: [.location: "/elsewhere"])
            case "/notes/challenge":
                return Response(
                    status: .unauthorized,
                    headers: [.wwwAuthenticate: #"Bearer realm="notes", error="invalid_token""#, .retryAfter: "7"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: "denied"))
                )
            default:
                let body = try await request.body.collect(upTo: 1 << 16)
                var headers: [String: [String]] = [:]
                for field in request.headers { headers[field.name.canonicalName, default: []].append(field.value) }
                let echo = Echo(
                    service: name,
                    method: request.method.rawValue,
                    uri: request.uri.description,
                    host: request.head.authority,
                    headers: headers,
                    body: String(buffer: body)
                )
                let json = ByteBuffer(bytes: try JSONEncoder().encode(echo))
                return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: json))
            }
        }
    }

    private func fakeService(_ name: String, log: NIOLockedValueBox<[String]>) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: FakeService(name: name, record: { entry in log.withLockedValue { $0.append(entry) } }))
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    /// Runs `body` against a live gateway in front of two live fake services.
    private func withGateway(site: WebSite, _ body: @escaping @Sendable (any TestClientProtocol, Upstreams) async throws -> Void) async throws {
        let log = NIOLockedValueBox<[String]>([])
        try await fakeService("identity", log: log).test(.live) { identity in
            try await fakeService("notes", log: log).test(.live) { notes in
                let upstreams = Upstreams(log: log, identityPort: try #require(identity.port), notesPort: try #require(notes.port))
                try await withProxyClient { proxy in
                    let gateway = Gateway(
                        webRoot: site.root,
                        identity: .init(name: "identity", baseURL: "http://127.0.0.1:\(upstreams.identityPort)"),
                        notes: .init(name: "notes", baseURL: "http://127.0.0.1:\(upstreams.notesPort)"),
                        proxy: proxy
                    )
                    try await gateway.application(host: "127.0.0.1", port: 0, logger: Logger(label: "test")).test(.live) { client in
                        try await body(client, upstreams)
                    }
                }
            }
        }
    }

    private func withProxyClient(_ body: (UpstreamProxy) async throws -> Void) async throws {
        let client = UpstreamProxy.makeClient()
        do {
            try await body(UpstreamProxy(client: client, timeout: .seconds(10)))
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    /// A port nothing listens on (bound by the kernel's choice, then closed).
    static func closedPort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(channel.localAddress?.port)
        try await channel.close()
        return port
    }
}
