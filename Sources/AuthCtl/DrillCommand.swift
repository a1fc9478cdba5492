import ArgumentParser
import AsyncHTTPClient
import AuthStackCore
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `authctl drill`: a key-rotation drill against a running stack (DESIGN.md §9). Several clients keep up valid traffic
/// (note writes and reads, refreshes, logins) while the keys rotate; any failed valid request fails the drill.
struct DrillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Rotate (and optionally revoke) keys under live traffic; exit 1 if any valid request failed.",
        discussion: """
            Each client signs up its own user, then loops: create, list, read, edit and delete a note, refresh every \
            fifth round, log in every fiftieth. Meanwhile the drill rotates the keys --rotations times, measuring how long \
            until identity signs with the new key (the propagation time). --revoke then revokes the current key and \
            measures how long until notes rejects a token it signed; clients whose tokens it signed refresh, as real \
            clients do. --key-outage S pauses the key service (SIGSTOP, Linux, same machine) for S seconds: traffic must \
            go on, and the next rotation must still propagate once it is back.
            """
    )

    @Option(help: "Identity service base URL.") var identity = "http://127.0.0.1:8081"
    @Option(help: "Notes service base URL.") var notes = "http://127.0.0.1:8082"
    @Option(name: .customLong("keys"), help: "Key service base URL.") var keysURL = "http://127.0.0.1:8083"
    @Option(name: .customLong("keys-dir"), help: "Directory with admin.token.") var keysDirectory = "keys"
    @Option(help: "Number of rotations.") var rotations = 3
    @Option(help: "Seconds of traffic before each rotation.") var interval: Double = 2
    @Option(help: "Concurrent clients.") var clients = 4
    @Flag(help: "After the rotations, revoke the current key.") var revoke = false
    @Option(name: .customLong("key-outage"), help: "Pause the key service for this many seconds (SIGSTOP/SIGCONT).")
    var keyOutage: Double?
    @Option(help: "Propagation bound in seconds (DESIGN.md §9).") var bound: Double = 2

    func validate() throws {
        guard rotations >= 0, clients >= 1, clients <= 50, interval >= 0, bound > 0 else {
            throw ValidationError("need rotations ≥ 0, 1–50 clients (signups are limited per address), interval ≥ 0, bound > 0")
        }
        if let keyOutage, keyOutage <= 0 { throw ValidationError("--key-outage needs a positive number of seconds") }
    }

    func run() async throws {
        let admin = try KeyServiceClient(url: keysURL, keysDirectory: keysDirectory)
        let api = DrillAPI(identity: identity, notes: notes)
        let stats = DrillStats()
        try await api.requireReady()
        let run = UUID().uuidString.prefix(8).lowercased()
        var users: [DrillUser] = []
        for index in 0..<clients { users.append(try await api.signup("drill-\(run)-\(index)")) }
        let probe = try await api.signup("drill-\(run)-probe")
        say("drill: \(clients) clients signed up; traffic starts")

        let control = DrillControl()
        let traffic = Task {
            await withTaskGroup(of: Void.self) { group in
                for user in users {
                    group.addTask { await api.traffic(as: user, stats: stats, control: control) }
                }
                group.addTask {
                    while !control.stopped {
                        stats.printProgress()
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
            }
        }

        var propagation: [(String, Double?)] = []
        var verdicts: [String] = []
        for round in 1...max(rotations, 1) where rotations > 0 {
            try await Task.sleep(for: .seconds(interval))
            let kid = try KeyServiceClient.Metadata.decode(try await admin.send(.POST, "/v1/keys/rotate?force=true").body).currentKid
            let seconds = await probe.waitUntilSigned(by: kid, api: api, limit: bound * 5)
            propagation.append(("rotation \(round) → \(kid)", seconds))
            if seconds.map({ $0 > bound }) ?? true { verdicts.append("rotation \(round) took longer than the \(bound) s bound") }
        }

        if let keyOutage {
            let pid = try ListeningProcess.pid(forURL: keysURL)
            say("\ndrill: pausing the key service (pid \(pid)) for \(keyOutage) s")
            kill(pid, SIGSTOP)
            try await Task.sleep(for: .seconds(keyOutage))
            kill(pid, SIGCONT)
            say("drill: key service resumed")
            let kid = try KeyServiceClient.Metadata.decode(try await admin.send(.POST, "/v1/keys/rotate?force=true").body).currentKid
            // After an outage the followers reconnect within their backoff (≤ 2 s), then the bound applies.
            let seconds = await probe.waitUntilSigned(by: kid, api: api, limit: bound * 5 + 2)
            propagation.append(("rotation after the outage → \(kid)", seconds))
            if seconds.map({ $0 > bound + 2 }) ?? true { verdicts.append("the rotation after the outage did not propagate within \(bound + 2) s") }
        }

        if revoke {
            try await Task.sleep(for: .seconds(interval))
            let victim = try await probe.refreshed(api: api)
            let kid = try Self.kid(of: victim)
            control.markRevoked(kid)
            _ = try await admin.send(.POST, "/v1/keys/\(kid)/revoke")
            let start = ContinuousClock.now
            var seconds: Double? = nil
            while ContinuousClock.now - start < .seconds(bound * 5) {
                if (try? await api.status(.GET, notes + "/notes?limit=1", bearer: victim)) == 401 {
                    seconds = (ContinuousClock.now - start).seconds
                    break
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            propagation.append(("revocation of \(kid) (notes rejects its tokens)", seconds))
            if seconds.map({ $0 > bound }) ?? true { verdicts.append("a revoked kid stayed accepted past the \(bound) s bound") }
            try await Task.sleep(for: .seconds(interval))
        }

        control.stop()
        await traffic.value
        say("\n" + stats.table(propagation: propagation))
        if stats.failures > 0 { verdicts.append("\(stats.failures) valid request(s) failed") }
        guard verdicts.isEmpty else { throw CommandFailure("drill failed: " + verdicts.joined(separator: "; ")) }
        say("drill: PASS — no valid request failed")
    }

    static func kid(of token: String) throws -> String {
        guard let header = Base64URL.decode(token.prefix { $0 != "." }),
            let object = try? JSONSerialization.jsonObject(with: Data(header)) as? [String: Any], let kid = object["kid"] as? String
        else { throw CommandFailure("identity issued a token without a readable kid") }
        return kid
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// One drill user: its credentials and current tokens.
final class DrillUser: @unchecked Sendable {
    let username: String
    let password: String
    private let lock = NSLock()
    private var tokens: (access: String, refresh: String)

    init(username: String, password: String, access: String, refresh: String) {
        self.username = username
        self.password = password
        tokens = (access, refresh)
    }

    var access: String { lock.withLock { tokens.access } }
    var refresh: String { lock.withLock { tokens.refresh } }
    func update(access: String, refresh: String) { lock.withLock { tokens = (access, refresh) } }

    /// A fresh access token from a refresh (cheap: no password hash).
    func refreshed(api: DrillAPI) async throws -> String {
        let (status, body) = try await api.send(.POST, api.identity + "/refresh", json: ["refresh_token": refresh])
        guard status == 200, let access = body["access_token"] as? String, let refresh = body["refresh_token"] as? String else {
            throw CommandFailure("the probe's refresh failed with HTTP \(status)")
        }
        update(access: access, refresh: refresh)
        return access
    }

    /// Seconds from now until identity issues a token signed by `kid`, or nil after `limit`.
    func waitUntilSigned(by kid: String, api: DrillAPI, limit: Double) async -> Double? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(limit) {
            if let token = try? await refreshed(api: api), (try? DrillCommand.kid(of: token)) == kid {
                return (ContinuousClock.now - start).seconds
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }
}

/// The public APIs as the drill's clients use them.
struct DrillAPI: Sendable {
    let identity: String
    let notes: String

    func requireReady() async throws {
        for url in [identity, notes] {
            guard (try? await status(.GET, url + "/readyz")) == 200 else {
                throw CommandFailure("\(url) is not ready (GET /readyz); start the stack first (`authctl up`)")
            }
        }
    }

    func status(_ method: HTTPMethod, _ url: String, bearer: String? = nil) async throws -> UInt {
        try await send(method, url, bearer: bearer).status
    }

    func send(_ method: HTTPMethod, _ url: String, bearer: String? = nil, json: [String: String]? = nil) async throws -> (status: UInt, body: [String: Any]) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: json)))
        }
        let response = try await authctlHTTPClient.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
        return (response.status.code, object)
    }

    func signup(_ username: String) async throws -> DrillUser {
        let password = "drill password " + UUID().uuidString
        let (status, body) = try await send(.POST, identity + "/signup", json: ["username": username, "password": password])
        guard status == 201, let access = body["access_token"] as? String, let refresh = body["refresh_token"] as? String else {
            throw CommandFailure("signup of a drill user failed with HTTP \(status) \(body["code"] ?? "")")
        }
        return DrillUser(username: username, password: password, access: access, refresh: refresh)
    }

    /// One client's loop of valid requests until `stop`.
    func traffic(as user: DrillUser, stats: DrillStats, control: DrillControl) async {
        var round = 0
        while !control.stopped {
            round += 1
            var noteID: String?
            let steps: [(String, HTTPMethod, () -> String, [String: String]?, UInt)] = [
                ("POST /notes", .POST, { notes + "/notes" }, ["title": "drill \(round)", "body": "steady traffic"], 201),
                ("GET /notes", .GET, { notes + "/notes?limit=5" }, nil, 200),
                ("GET /notes/{id}", .GET, { notes + "/notes/\(noteID ?? "missing")" }, nil, 200),
                ("PATCH /notes/{id}", .PATCH, { notes + "/notes/\(noteID ?? "missing")" }, ["body": "edited in round \(round)"], 200),
                ("DELETE /notes/{id}", .DELETE, { notes + "/notes/\(noteID ?? "missing")" }, nil, 204),
            ]
            for (name, method, url, json, expected) in steps {
                let token = user.access
                do {
                    let (status, body) = try await send(method, url(), bearer: token, json: json)
                    if status == expected {
                        stats.record(name, status: status, ok: true)
                        if name == "POST /notes" { noteID = body["id"] as? String }
                    } else if status == 401, body["code"] as? String == "token_expired"
                        || (try? DrillCommand.kid(of: token)).map(control.isRevoked) == true
                    {
                        // Expired, or signed by the key just revoked: rejected as it must be; a real client refreshes.
                        stats.record(name, status: status, ok: true, expected: true)
                        _ = try? await user.refreshed(api: self)
                        break
                    } else {
                        stats.record(name, status: status, ok: false)
                        if name == "POST /notes" { break }
                    }
                } catch {
                    stats.record(name, status: 0, ok: false)
                }
            }
            if round % 5 == 0 {
                do {
                    _ = try await user.refreshed(api: self)
                    stats.record("POST /refresh", status: 200, ok: true)
                } catch {
                    stats.record("POST /refresh", status: 0, ok: false)
                }
            }
            if round % 50 == 0 {
                let (status, body) = (try? await send(.POST, identity + "/login", json: ["username": user.username, "password": user.password])) ?? (0, [:])
                stats.record("POST /login", status: status, ok: status == 200)
                if let access = body["access_token"] as? String, let refresh = body["refresh_token"] as? String {
                    user.update(access: access, refresh: refresh)
                }
            }
        }
    }
}

/// What the drill's driver tells its clients: stop, and which kids it revoked.
final class DrillControl: Sendable {
    private let stopFlag = Atomic<Bool>(false)
    private let revoked = Mutex<Set<String>>([])

    var stopped: Bool { stopFlag.load(ordering: .relaxed) }
    func stop() { stopFlag.store(true, ordering: .relaxed) }
    func markRevoked(_ kid: String) { revoked.withLock { _ = $0.insert(kid) } }
    func isRevoked(_ kid: String) -> Bool { revoked.withLock { $0.contains(kid) } }
}

/// Counts by operation and status.
final class DrillStats: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: [UInt: Int]] = [:]
    private var failed = 0
    private var expectedRejections = 0
    private var total = 0

    func record(_ operation: String, status: UInt, ok: Bool, expected: Bool = false) {
        lock.withLock {
            counts[operation, default: [:]][status, default: 0] += 1
            total += 1
            if !ok { failed += 1 }
            if expected { expectedRejections += 1 }
        }
    }

    var failures: Int { lock.withLock { failed } }

    func printProgress() {
        let (total, failed) = lock.withLock { (self.total, self.failed) }
        writeRaw("\rdrill: \(total) requests, \(failed) failed   ")
    }

    func table(propagation: [(String, Double?)]) -> String {
        lock.withLock {
            var lines = ["operation            requests  by status", "-------------------  --------  ---------"]
            for (operation, statuses) in counts.sorted(by: { $0.key < $1.key }) {
                let byStatus = statuses.sorted { $0.key < $1.key }.map { "\($0.key == 0 ? "error" : String($0.key)): \($0.value)" }
                lines.append(operation.padding(toLength: 21, withPad: " ", startingAt: 0)
                    + String(statuses.values.reduce(0, +)).padding(toLength: 10, withPad: " ", startingAt: 0) + byStatus.joined(separator: ", "))
            }
            lines.append("")
            lines.append("requests \(total), failed \(failed), expected 401s (token expired or its key revoked; the client refreshed) \(expectedRejections)")
            lines.append("")
            for (event, seconds) in propagation {
                lines.append("propagation  \(event): " + (seconds.map { String(format: "%.3f s", $0) } ?? "not observed"))
            }
            return lines.joined(separator: "\n")
        }
    }
}

/// Finds the process listening on a local TCP port (Linux `/proc`), to pause the key service for an outage drill.
enum ListeningProcess {
    static func pid(forURL url: String) throws -> pid_t {
        guard let port = URLComponents(string: url)?.port else { throw CommandFailure("\(url) names no port") }
        var inodes: Set<String> = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 9, fields[3] == "0A", let local = fields[1].split(separator: ":").last,
                    Int(local, radix: 16) == port
                else { continue }
                inodes.insert(String(fields[9]))
            }
        }
        guard !inodes.isEmpty else { throw CommandFailure("nothing listens on port \(port) here; --key-outage needs the key service on this machine") }
        let processes = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in processes {
            guard let pid = pid_t(entry) else { continue }
            let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(entry)/fd")) ?? []
            for descriptor in descriptors {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/fd/\(descriptor)"),
                    target.hasPrefix("socket:["), inodes.contains(String(target.dropFirst(8).dropLast()))
                {
                    return pid
                }
            }
        }
        throw CommandFailure("cannot find the process listening on port \(port) (run the drill as the same user as the stack)")
    }
}
