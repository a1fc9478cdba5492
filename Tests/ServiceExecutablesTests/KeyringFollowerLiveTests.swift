import AuthStackCore
import AuthStackService
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import Prometheus
import NIOFoundationCompat
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import Testing
import AsyncHTTPClient

@testable import IdentityServer
@testable import KeyService

/// A key service application run in-process on a fixed loopback port, so that it can be stopped and
/// restarted where its followers look for it (HummingbirdTesting's live mode always picks a new port).
struct RunningKeyService {
    let port: Int
    private let service: RunningService

    /// Starts the fixture's key service on `port`, or on a port the kernel picks (the `port` property tells which).
    /// A restart on the port of a stopped instance binds at once: the stop closed the listener, and SO_REUSEADDR lets
    /// the new one bind past the old connections' TIME_WAIT. (It once seemed to need a retry loop; the real cause was
    /// the PostgreSQL test cluster inheriting the suite's sockets — see `TestPostgres.closeInheritedDescriptors`.)
    static func start(_ fixture: KeyServiceFixture, port: Int = 0) async throws -> RunningKeyService {
        let service = try await RunningService.start(try await fixture.application(port: port), port: port)
        return RunningKeyService(port: service.port, service: service)
    }

    func request(_ path: String, method: HTTPMethod = .GET, token: String? = nil) async throws -> (status: HTTPResponseStatus, body: Data) {
        try await service.request(path, method: method, token: token)
    }

    func stop() async { await service.stop() }
}

/// Any application run in-process on a fixed 127.0.0.1 port until `stop()` (HummingbirdTesting's live mode binds
/// "localhost" on a new port each time).
struct RunningService {
    let port: Int
    let group: ServiceGroup
    let task: Task<Void, any Error>

    /// A client that gives up connecting after 1 s instead of retrying for 10 s like the shared one.
    static let http = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(1))))

    func request(
        _ path: String, method: HTTPMethod = .GET, token: String? = nil, timeout: TimeAmount = .seconds(30)
    ) async throws -> (status: HTTPResponseStatus, body: Data) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await Self.http.execute(request, timeout: timeout)
        return (response.status, Data(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

/// A real key service and a keyring follower talking HTTP over loopback (DESIGN.md §4 "Distribution",
/// §9 propagation bound): rotations and revocations reach the follower within 2 s; with the key
/// service stopped the follower keeps its keyring and the verifier keeps accepting; after a restart
/// it resumes. The measured propagation times are printed for the record (`swift test --filter
/// KeyringFollowerLiveTests`); the 2 s bound is the product's contract, not a speed target.
@Suite(.serialized) struct KeyringFollowerLiveTests {
    static let bound = Duration.seconds(2)

    /// Polls `condition` every 5 ms; the time it took, or nil when `limit` passed first.
    private func elapsed(until limit: Duration, _ condition: () -> Bool) async throws -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < limit {
            if condition() { return ContinuousClock.now - start }
            try await Task.sleep(for: .milliseconds(5))
        }
        return condition() ? ContinuousClock.now - start : nil
    }

    static func summary(_ samples: [Duration]) -> String {
        let milliseconds = samples.map { Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1e3 }.sorted()
        return String(format: "median %.1f ms, max %.1f ms", milliseconds[milliseconds.count / 2], milliseconds.last ?? 0)
    }

    private func follower(port: Int, fixture: KeyServiceFixture, registry: PrometheusCollectorRegistry) throws -> KeyringFollower {
        var configuration = KeyringFollowerConfiguration(keyServiceURL: "http://127.0.0.1:\(port)", tokenFile: "unused")
        configuration.longPollWait = 30
        return KeyringFollower(configuration: configuration, clientToken: try fixture.token("notes"), registry: registry, logger: Logger(label: "follower"))
    }

    private func metadata(_ body: Data) throws -> (currentKid: String, kids: [String: String]) {
        let object = try JSONSerialization.jsonObject(with: body) as! [String: Any]
        var kids: [String: String] = [:]
        for key in object["keys"] as! [[String: Any]] { kids[key["kid"] as! String] = key["status"] as? String }
        return (object["current_kid"] as! String, kids)
    }

    private func token(signedWith key: HS256Key) -> String {
        let signer = AccessTokenSigner()
        return signer.sign(signer.claims(subject: "u1", username: "ada", sessionID: "s1", now: Date()), with: key)
    }

    private func counter(_ name: String, in registry: PrometheusCollectorRegistry) -> Double {
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") || $0.hasPrefix(name + "{") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    @Test func followerTracksRotationRevocationOutageAndRestart() async throws {
        let fixture = try KeyServiceFixture()
        // 1. Key service up (on a port below the ephemeral range: while it is down, a client connecting to an
        //    ephemeral-range port could connect to itself and hold the port), first keyring, then a rotation and a
        //    revocation propagate within the bound.
        var keys = try await RunningKeyService.start(fixture, port: try await freePortForTest())
        let port = keys.port
        let registry = PrometheusCollectorRegistry()
        let follower = try follower(port: port, fixture: fixture, registry: registry)
        let authenticator = BearerAuthenticator(realm: "notes", policy: TokenVerificationPolicy(issuer: "authstack", audience: "notes"), keyring: follower)
        let admin = try fixture.token("admin")
        let running = Task { try await follower.run() }
        defer { running.cancel() }
        let first = try await elapsed(until: .seconds(10)) { follower.current() != nil }
        #expect(first != nil, "no first keyring")
        let initialKey = try #require(follower.current()).keyring.signingKey

        // Ten rounds of rotate, then revoke the key that was current before: each change must reach the
        // follower within the bound. Times run from sending the admin request (an upper bound on the time
        // from the key service's answer) to the follower holding the change.
        var rotations: [Duration] = []
        var revocations: [Duration] = []
        var previousToken = ""
        for _ in 0..<10 {
            let before = try #require(follower.current()).keyring.signingKey
            var sent = ContinuousClock.now
            let rotated = try metadata(try await keys.request("/v1/keys/rotate?force=true", method: .POST, token: admin).body)
            let rotation = try await elapsed(until: Self.bound) { follower.current()?.keyring.currentKey.kid == rotated.currentKid }
            #expect(rotation != nil, "rotation did not reach the follower within 2 s")
            rotations.append(ContinuousClock.now - sent)
            previousToken = token(signedWith: before)
            #expect(try await authenticator.authenticate(authorization: "Bearer \(previousToken)").subject == "u1",
                    "a token of the now previous key must still verify")

            sent = ContinuousClock.now
            let revoked = try metadata(try await keys.request("/v1/keys/\(before.kid)/revoke", method: .POST, token: admin).body)
            #expect(revoked.kids[before.kid] == "revoked")
            let revocation = try await elapsed(until: Self.bound) {
                follower.current()?.keyring.keys.contains { $0.kid == before.kid } == false
            }
            #expect(revocation != nil, "revocation did not reach the follower within 2 s")
            revocations.append(ContinuousClock.now - sent)
            await #expect(throws: ProblemDetails.self) {
                _ = try await authenticator.authenticate(authorization: "Bearer \(previousToken)")
            }
        }
        print("propagation over loopback, request sent → follower holds it (10 rounds): rotation \(Self.summary(rotations)), revocation \(Self.summary(revocations))")
        let heldKey = try #require(follower.current()).keyring.signingKey
        let stopping = ContinuousClock.now
        await keys.stop()
        print("key service stopped in \(ContinuousClock.now - stopping) with a long-poll open")

        // 2. Key service stopped: the follower keeps its keyring and the verifier keeps accepting.
        let versionBeforeOutage = try #require(follower.current()).keyring.version
        let failed = try await elapsed(until: .seconds(10)) { counter("keyring_fetch_failures_total", in: registry) > 0 }
        try await Task.sleep(for: .milliseconds(500))
        #expect(follower.current()?.keyring.version == versionBeforeOutage)
        #expect(try await authenticator.authenticate(authorization: "Bearer \(token(signedWith: heldKey))").subject == "u1")
        #expect(follower.current()?.keyring.keys.contains { $0.kid == initialKey.kid } == false)

        // 3. Restarted on the same port and database: the follower resumes and sees the next rotation.
        #expect(failed != nil, "the outage was not noticed")
        keys = try await RunningKeyService.start(fixture, port: port)
        let next = try metadata(try await keys.request("/v1/keys/rotate?force=true", method: .POST, token: admin).body)
        // Up to one backoff period (≤ 2 s) passes before the follower reconnects, then the bound applies.
        let resumed = try await elapsed(until: .seconds(10)) { follower.current()?.keyring.currentKey.kid == next.currentKid }
        #expect(resumed != nil, "the follower did not resume after the key service restarted")
        print("propagation: after the restart the follower had the next rotation in \(resumed.map { "\($0)" } ?? "more than 10 s")")
        await keys.stop()
        running.cancel()
        _ = await running.result
    }

    @Test func aReplacedKeyServiceDatabaseIsAdoptedFromTheLongPoll() async throws {
        var fixture = try KeyServiceFixture()
        var keys = try await RunningKeyService.start(fixture, port: try await freePortForTest())
        let port = keys.port
        let registry = PrometheusCollectorRegistry()
        let follower = try follower(port: port, fixture: fixture, registry: registry)
        let running = Task { try await follower.run() }
        defer { running.cancel() }
        for _ in 0..<3 { _ = try await keys.request("/v1/keys/rotate?force=true", method: .POST, token: try fixture.token("admin")) }
        #expect(try await elapsed(until: .seconds(10)) { follower.current()?.keyring.version == 4 } != nil)
        await keys.stop()

        // Same secrets, new empty database: its keyring starts again at version 1 with new kids.
        fixture.configuration.databasePath += ".replaced"
        keys = try await RunningKeyService.start(fixture, port: port)
        let adopted = try await elapsed(until: .seconds(10)) { follower.current()?.keyring.version == 1 }
        #expect(adopted != nil, "a follower must not cling to a keyring the key service no longer has")
        let served = try Keyring(jwkSetJSON: Array(try await keys.request("/v1/keyring", token: try fixture.token("notes")).body))
        #expect(follower.current()?.keyring.currentKey.kid == served.currentKey.kid)
        #expect(String(decoding: registry.emitToBuffer(), as: UTF8.self).split(separator: "\n").contains("keyring_version 1.0"))
        running.cancel()
        _ = await running.result
        await keys.stop()
    }

    @Test func unknownKidRefreshesAreSingleFlightAndRateLimited() async throws {
        let fixture = try KeyServiceFixture()
        let registry = PrometheusCollectorRegistry()
        try await fixture.application().test(.live) { client in
            var configuration = KeyringFollowerConfiguration(keyServiceURL: "http://127.0.0.1:\(client.port!)", tokenFile: "unused")
            configuration.unknownKeyIDCooldown = 60
            let follower = KeyringFollower(configuration: configuration, clientToken: try fixture.token("notes"), registry: registry, logger: Logger(label: "f"))
            // Not running its long-poll: every fetch here comes from refreshForUnknownKeyID.
            let results = await withTaskGroup(of: Int?.self) { group in
                for _ in 0..<50 { group.addTask { await follower.refreshForUnknownKeyID()?.keyring.version } }
                return await group.reduce(into: [Int?]()) { $0.append($1) }
            }
            #expect(results.compactMap { $0 }.count >= 1, "the one fetch must have installed the keyring")
            #expect(follower.current() != nil)
            let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
            #expect(text.contains(#"keyring_unknown_kid_refreshes_total{result="fetched"} 1"#), "\(text)")
            // A forged kid right after: no second fetch inside the cooldown.
            _ = await follower.refreshForUnknownKeyID()
            let after = String(decoding: registry.emitToBuffer(), as: UTF8.self)
            #expect(after.contains(#"keyring_unknown_kid_refreshes_total{result="fetched"} 1"#))
            #expect(after.contains(#"keyring_unknown_kid_refreshes_total{result="cooldown"}"#))
            await follower.shutdown()
        }
    }
}

/// Identity with its real keyring follower and a real key service (DESIGN.md §9): it is not ready before its first
/// keyring, and after a rotation it signs with the new `current` key within the propagation bound.
@Suite struct IdentitySigningLiveTests {
    @Test func identitySignsWithTheNewCurrentKeyAfterARotation() async throws {
        let keysFixture = try KeyServiceFixture()
        let port = try await freePortForTest()
        var identity = try IdentityFixture()
        identity.configuration.keys = KeyringFollowerConfiguration(
            keyServiceURL: "http://127.0.0.1:\(port)", tokenFile: keysFixture.secrets.path + "/identity.token")
        let configuration = identity.configuration
        let app = try await buildIdentityApplication(
            settings: ServiceSettings(host: "127.0.0.1", port: 0), configuration: configuration, runtime: ServiceRuntime(name: "identity"))
        try await app.test(.live) { client in
            // No key service yet: not ready, and signup is refused before any write.
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .serviceUnavailable) }
            let keys = try await RunningKeyService.start(keysFixture, port: port)
            var ready = false
            for _ in 0..<200 where !ready {
                ready = try await client.execute(uri: "/readyz", method: .get) { $0.status == .ok }
                if !ready { try await Task.sleep(for: .milliseconds(25)) }
            }
            #expect(ready, "identity became ready once the key service answered")
            let first = try await client.signup("signer")
            let before = try Self.kid(of: first.accessToken)

            let rotated = try JSONSerialization.jsonObject(
                with: try await keys.request("/v1/keys/rotate?force=true", method: .POST, token: try keysFixture.token("admin")).body) as? [String: Any]
            let newKid = try #require(rotated?["current_kid"] as? String)
            #expect(newKid != before)
            let start = ContinuousClock.now
            var kid = before
            while kid != newKid && ContinuousClock.now - start < .seconds(2) {
                kid = try Self.kid(of: try IssuedTokens(try await client.login("signer")).accessToken)
            }
            #expect(kid == newKid, "identity did not sign with the new key within 2 s")
            print("propagation: identity signed with the new current key \(ContinuousClock.now - start) after the rotation answer")
            await keys.stop()
        }
    }

    static func kid(of token: String) throws -> String {
        let header = try #require(Base64URL.decode(token.prefix { $0 != "." }))
        let object = try JSONSerialization.jsonObject(with: Data(header)) as? [String: Any]
        return try #require(object?["kid"] as? String)
    }
}

/// A port nobody listens on now, so a service can be stopped and restarted on it. Drawn from below the kernel's
/// ephemeral range (32768–60999 here): a port-0 bind elsewhere in the suite can then never take it over while the
/// service is down between a stop and its restart.
func freePortForTest() async throws -> Int {
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
    static func start(_ app: some ApplicationProtocol, port: Int = 0) async throws -> RunningService {
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
