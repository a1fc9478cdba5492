import AsyncHTTPClient
import AuthStackCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import ServiceLifecycle
import Synchronization

/// Keeps an in-memory keyring current by long-polling the key service (docs/design.md §4 "Distribution").
///
/// - `run()` (a ServiceLifecycle `Service`) fetches the keyring, then long-polls `GET /v1/keyring?wait=`
///   with `If-None-Match`, so a rotation or revocation arrives as soon as the key service answers it.
/// - While the key service is unreachable it keeps the last keyring and retries with exponential
///   backoff and full jitter, capped at `maximumBackoff`.
/// - `refreshForUnknownKeyID()` fetches once for a token whose kid is not held: concurrent callers share
///   one fetch, and a new one starts at most once per `unknownKeyIDCooldown`.
/// - `current()` is the verifier's per-request read: no lock, no actor hop (see `SnapshotCell`).
/// - Metrics: `keyring_version`, `keyring_age_seconds` (since the key service last confirmed the held
///   keyring), `keyring_fetch_failures_total`, `keyring_updates_total`, `keyring_unknown_kid_refreshes_total`.
public final class KeyringFollower: KeyringSource, Service {
    /// Largest keyring body accepted; 32 keys take about 10 KB.
    static let maximumBodySize = 1 << 20

    public let configuration: KeyringFollowerConfiguration
    private let clientToken: String
    private let logger: Logger
    private let snapshot = SnapshotCell<KeyringSnapshot>()
    private let state = Mutex(State())
    private let metrics: Metrics

    private struct State {
        /// Number of keyrings installed so far; lets a long-poll answer tell whether it is stale.
        var installs = 0
        var lastConfirmed: ContinuousClock.Instant?
        var client: HTTPClient?
        var stopped = false
        var refresh: Task<KeyringSnapshot?, Never>?
        var lastRefreshStarted: ContinuousClock.Instant?
    }

    /// Reads the client token from `configuration.tokenFile`; a missing or empty file is a start-up error.
    public convenience init(configuration: KeyringFollowerConfiguration, registry: PrometheusCollectorRegistry, logger: Logger) throws {
        let token: String
        do {
            token = try String(contentsOfFile: configuration.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw StartupError.unreadableTokenFile(configuration.tokenFile)
        }
        guard !token.isEmpty else { throw StartupError.emptyTokenFile(configuration.tokenFile) }
        self.init(configuration: configuration, clientToken: token, registry: registry, logger: logger)
    }

    public init(configuration: KeyringFollowerConfiguration, clientToken: String, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.configuration = configuration
        self.clientToken = clientToken
        self.logger = logger
        self.metrics = Metrics(registry: registry)
    }

    public enum StartupError: Error, CustomStringConvertible {
        case emptyTokenFile(String)
        case unreadableTokenFile(String)

        public var description: String {
            switch self {
            case .emptyTokenFile(let path): "the key service client token file \(path) is empty; run `authctl init`"
            case .unreadableTokenFile(let path):
                "cannot read the key service client token file \(path); run `authctl init` or set the *_KEYS_TOKEN_FILE variable"
            }
        }
    }

    // MARK: KeyringSource

    public func current() -> KeyringSnapshot? { snapshot.load() }

    public func refreshForUnknownKeyID() async -> KeyringSnapshot? {
        let now = ContinuousClock.now
        let task: Task<KeyringSnapshot?, Never>? = state.withLock { state in
            if state.stopped { return nil }
            if let running = state.refresh {
                metrics.unknownKeyIDRefresh("coalesced")
                return running
            }
            if let last = state.lastRefreshStarted, now - last < .seconds(configuration.unknownKeyIDCooldown) {
                metrics.unknownKeyIDRefresh("cooldown")
                return nil
            }
            metrics.unknownKeyIDRefresh("fetched")
            state.lastRefreshStarted = now
            // The task cannot clear `refresh` before it is stored: clearing needs this same lock.
            let task = Task {
                do {
                    _ = try await self.fetch(wait: 0, fromLongPoll: false)
                } catch {
                    self.metrics.fetchFailures.increment()
                    self.logger.warning("keyring refresh for an unknown kid failed", metadata: ["error": "\(Self.describe(error))"])
                }
                self.state.withLock { $0.refresh = nil }
                return self.snapshot.load()
            }
            state.refresh = task
            return task
        }
        guard let task else { return snapshot.load() }
        return await task.value
    }

    // MARK: Service

    public func run() async throws {
        defer { metrics.stopAgeReporting() }
        metrics.startAgeReporting { [weak self] in
            guard let self else { return nil }
            return self.state.withLock { $0.lastConfirmed }.map { ContinuousClock.now - $0 }
        }
        await cancelWhenGracefulShutdown { await self.follow() }
        await shutdown()
    }

    /// Stops fetching and releases the HTTP client. `run()` ends with it; call it directly for a
    /// follower that was used without being run.
    public func shutdown() async {
        let client = state.withLock { state -> HTTPClient? in
            state.stopped = true
            defer { state.client = nil }
            return state.client
        }
        _ = await (state.withLock { $0.refresh })?.value
        try? await client?.shutdown()
    }

    private func follow() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let outcome = try await fetch(wait: current() == nil ? 0 : configuration.longPollWait, fromLongPoll: true)
                if failures > 0 {
                    logger.notice("key service reachable again", metadata: ["failed_attempts": "\(failures)"])
                }
                failures = 0
                if outcome == .unchanged {
                    // A 200 that changed nothing means the server did not long-poll; never spin on it.
                    try await Task.sleep(for: .seconds(configuration.initialBackoff))
                }
            } catch {
                if Task.isCancelled { return }
                failures += 1
                metrics.fetchFailures.increment()
                // The first failure and then every 30th: an outage must not flood the log.
                if failures == 1 || failures % 30 == 0 {
                    logger.warning(
                        "cannot fetch the keyring; keeping the last one",
                        metadata: [
                            "error": "\(Self.describe(error))", "failed_attempts": "\(failures)",
                            "keyring_version": "\(current().map { String($0.keyring.version) } ?? "none")",
                        ]
                    )
                }
                do {
                    try await Task.sleep(for: .seconds(Self.backoff(attempt: failures, configuration: configuration)))
                } catch {
                    return
                }
            }
        }
    }

    /// Full-jitter exponential backoff: uniform in [0, min(cap, initial × 2^(attempt−1))].
    static func backoff(attempt: Int, configuration: KeyringFollowerConfiguration) -> Double {
        let ceiling = min(configuration.maximumBackoff, configuration.initialBackoff * pow(2, Double(min(attempt - 1, 30))))
        return Double.random(in: 0...ceiling)
    }

    // MARK: Fetching

    enum Outcome: Equatable { case installed, unchanged, notModified }

    enum FetchError: Error, CustomStringConvertible {
        case refused(status: Int, tokenFile: String)
        case unexpectedStatus(Int)
        case invalidKeyring(Keyring.Failure)

        var description: String {
            switch self {
            case .refused(let status, let tokenFile):
                "the key service refused this client's token (HTTP \(status)); check \(tokenFile) and the client's role"
            case .unexpectedStatus(let status): "the key service answered HTTP \(status)"
            case .invalidKeyring(let failure): "the key service sent an unusable keyring: \(failure)"
            }
        }
    }

    func fetch(wait: Int, fromLongPoll: Bool) async throws -> Outcome {
        let held = current()
        let installsAtSend = state.withLock { $0.installs }
        var request = HTTPClientRequest(url: configuration.keyServiceURL + "/v1/keyring" + (wait > 0 ? "?wait=\(wait)" : ""))
        request.headers.add(name: "Authorization", value: "Bearer " + clientToken)
        if let held { request.headers.add(name: "If-None-Match", value: "\"v\(held.keyring.version)\"") }
        let response = try await httpClient().execute(request, timeout: .seconds(Int64(wait) + Int64(configuration.requestTimeout.rounded(.up))))
        switch response.status.code {
        case 200:
            let body = try await response.body.collect(upTo: Self.maximumBodySize)
            let keyring: Keyring
            do {
                keyring = try Keyring(jwkSetJSON: body.readableBytesView)
            } catch {
                throw FetchError.invalidKeyring(error)
            }
            return install(keyring, fromLongPoll: fromLongPoll, installsAtSend: installsAtSend)
        case 304:
            _ = try? await response.body.collect(upTo: Self.maximumBodySize)
            state.withLock { $0.lastConfirmed = .now }
            return .notModified
        case 401, 403:
            _ = try? await response.body.collect(upTo: Self.maximumBodySize)
            throw FetchError.refused(status: Int(response.status.code), tokenFile: configuration.tokenFile)
        default:
            _ = try? await response.body.collect(upTo: Self.maximumBodySize)
            throw FetchError.unexpectedStatus(Int(response.status.code))
        }
    }

    /// Installs a fetched keyring when it is newer than the held one. A lower version is installed only
    /// from the long-poll, and only when nothing was installed since that request was sent: the key
    /// service's database was replaced, and its answer is the truth. A lower version that raced with a
    /// newer install is stale and dropped.
    private func install(_ keyring: Keyring, fromLongPoll: Bool, installsAtSend: Int) -> Outcome {
        let (outcome, previous) = state.withLock { state -> (Outcome, Int?) in
            let held = snapshot.load()?.keyring.version
            state.lastConfirmed = .now
            if let held {
                if keyring.version == held { return (.unchanged, held) }
                if keyring.version < held && !(fromLongPoll && state.installs == installsAtSend) { return (.unchanged, held) }
            }
            state.installs += 1
            snapshot.store(KeyringSnapshot(keyring: keyring, receivedAt: Date()))
            return (.installed, held)
        }
        guard outcome == .installed else { return outcome }
        metrics.version.set(Int64(keyring.version))
        metrics.updates.increment()
        var metadata: Logger.Metadata = [
            "keyring_version": "\(keyring.version)", "current_kid": "\(keyring.currentKey.kid)",
            "kids": "\(keyring.keys.map(\.kid).joined(separator: ","))",
        ]
        if let previous {
            metadata["previous_version"] = "\(previous)"
            if keyring.version < previous {
                logger.warning("keyring version went backwards; the key service's database was replaced", metadata: metadata)
                return outcome
            }
        }
        logger.info("keyring updated", metadata: metadata)
        return outcome
    }

    private func httpClient() throws -> HTTPClient {
        try state.withLock { state in
            if let client = state.client { return client }
            guard !state.stopped else { throw CancellationError() }
            var configuration = HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .milliseconds(Int64(self.configuration.connectTimeout * 1000)), read: nil)
            )
            configuration.connectionPool = .init(idleTimeout: .seconds(90))
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration, backgroundActivityLogger: logger)
            state.client = client
            return client
        }
    }

    static func describe(_ error: any Error) -> String { String(describing: error) }
}

extension KeyringFollower {
    /// The follower's Prometheus series; the age gauge is refreshed once a second while the follower runs.
    final class Metrics: Sendable {
        let version: Gauge
        let age: Gauge
        let fetchFailures: Counter
        let updates: Counter
        private let registry: PrometheusCollectorRegistry
        private let ageTask = Mutex<Task<Void, Never>?>(nil)

        init(registry: PrometheusCollectorRegistry) {
            self.registry = registry
            version = registry.gauge("keyring_version", help: "Version of the keyring this service holds (0 before the first)")
            age = registry.gauge(
                "keyring_age",
                unit: "seconds",
                help: "Seconds since the key service last confirmed the held keyring (-1 before the first)"
            )
            age.set(-1.0)
            fetchFailures = registry.counter("keyring_fetch_failures", help: "Failed keyring fetches from the key service")
            updates = registry.counter("keyring_updates", help: "Keyrings installed")
        }

        func unknownKeyIDRefresh(_ result: String) {
            registry.makeCounter(
                descriptor: MetricNameDescriptor(
                    metricName: "keyring_unknown_kid_refreshes",
                    unitName: "total",
                    helpText: "Tokens with an unknown kid, by what the follower did: fetched, coalesced (joined a fetch), cooldown (no fetch)"
                ),
                labels: [("result", result)]
            ).increment()
        }

        func startAgeReporting(_ age: @escaping @Sendable () -> Duration?) {
            let gauge = self.age
            let task = Task {
                while !Task.isCancelled {
                    if let elapsed = age() {
                        gauge.set(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                    }
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            ageTask.withLock { $0 = task }
        }

        func stopAgeReporting() {
            ageTask.withLock { $0?.cancel() }
        }
    }
}
