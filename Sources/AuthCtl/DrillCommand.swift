import ArgumentParser
import AuthStackCore
import Foundation
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// `authctl drill`: a key-rotation drill against a running stack (DESIGN.md §9). Several clients keep up valid traffic
/// (note writes and reads, refreshes, logins) while the keys rotate; any failed valid request fails the drill.
struct DrillCommand: AsyncParsableCommand {
    /// `drill`'s name and help.
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

    /// `--identity`.
    @Option(help: "Identity service base URL.") var identity = "http://127.0.0.1:8081"
    /// `--notes`.
    @Option(help: "Notes service base URL.") var notes = "http://127.0.0.1:8082"
    /// `--keys`.
    @Option(name: .customLong("keys"), help: "Key service base URL.") var keysURL = "http://127.0.0.1:8083"
    /// `--keys-dir`: where admin.token is.
    @Option(name: .customLong("keys-dir"), help: "Directory with admin.token.") var keysDirectory = "keys"
    /// `--rotations`.
    @Option(help: "Number of rotations.") var rotations = 3
    /// `--interval`: seconds of traffic between the drill's steps.
    @Option(help: "Seconds of traffic before each rotation.") var interval: Double = 2
    /// `--clients`.
    @Option(help: "Concurrent clients.") var clients = 4
    /// `--revoke`.
    @Flag(help: "After the rotations, revoke the current key.") var revoke = false
    /// `--key-outage`.
    @Option(name: .customLong("key-outage"), help: "Pause the key service for this many seconds (SIGSTOP/SIGCONT).")
    var keyOutage: Double?
    /// `--bound`: the propagation bound.
    @Option(help: "Propagation bound in seconds (DESIGN.md §9).") var bound: Double = 2

    /// What the drill measured and what failed it.
    private struct Findings {
        /// Each measured event with its seconds (nil: not observed within the limit).
        var propagation: [(String, Double?)] = []
        /// Why the drill failed, if it did.
        var verdicts: [String] = []
    }

    /// Counts and durations in range.
    func validate() throws {
        guard rotations >= 0, clients >= 1, clients <= 50, interval >= 0, bound > 0 else {
            throw ValidationError("need rotations ≥ 0, 1–50 clients (signups are limited per address), interval ≥ 0, bound > 0")
        }
        if let keyOutage, keyOutage <= 0 { throw ValidationError("--key-outage needs a positive number of seconds") }
    }

    /// Signs up the clients, runs their traffic through the rotations, the outage and the revocation, and judges.
    func run() async throws {
        let admin = try KeyServiceClient(url: keysURL, keysDirectory: keysDirectory)
        let api = DrillAPI(identity: identity, notes: notes)
        let stats = DrillStats()
        try await api.requireReady()
        let (users, probe) = try await signUp(api: api)
        say("drill: \(clients) clients signed up; traffic starts")

        let control = DrillControl()
        let traffic = Self.startTraffic(users: users, api: api, stats: stats, control: control)
        var findings = Findings()
        try await rotate(admin: admin, probe: probe, api: api, findings: &findings)
        if let keyOutage {
            try await pauseKeyService(for: keyOutage, admin: admin, probe: probe, api: api, findings: &findings)
        }
        if revoke {
            try await revokeCurrentKey(admin: admin, probe: probe, api: api, control: control, findings: &findings)
        }

        control.stop()
        await traffic.value
        say("\n" + stats.table(propagation: findings.propagation))
        if stats.failures > 0 { findings.verdicts.append("\(stats.failures) valid request(s) failed") }
        guard findings.verdicts.isEmpty else { throw CommandFailure("drill failed: " + findings.verdicts.joined(separator: "; ")) }
        say("drill: PASS — no valid request failed")
    }

    /// One user per client, plus the probe that watches which key identity signs with.
    private func signUp(api: DrillAPI) async throws -> (users: [DrillUser], probe: DrillUser) {
        let run = UUID().uuidString.prefix(8).lowercased()
        var users: [DrillUser] = []
        for index in 0..<clients { users.append(try await api.signup("drill-\(run)-\(index)")) }
        let probe = try await api.signup("drill-\(run)-probe")
        return (users, probe)
    }

    /// Every client's loop, plus a progress line each second, until `control` says stop.
    private static func startTraffic(users: [DrillUser], api: DrillAPI, stats: DrillStats, control: DrillControl) -> Task<Void, Never> {
        Task {
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
    }

    /// `--rotations` forced rotations, `--interval` apart, each timed until identity signs with the new key.
    private func rotate(admin: KeyServiceClient, probe: DrillUser, api: DrillAPI, findings: inout Findings) async throws {
        for round in 1...max(rotations, 1) where rotations > 0 {
            try await Task.sleep(for: .seconds(interval))
            let kid = try KeyServiceClient.Metadata.decode(try await admin.send(.POST, "/v1/keys/rotate?force=true").body).currentKid
            let seconds = await probe.waitUntilSigned(by: kid, api: api, limit: bound * 5)
            findings.propagation.append(("rotation \(round) → \(kid)", seconds))
            if seconds.map({ $0 > bound }) ?? true { findings.verdicts.append("rotation \(round) took longer than the \(bound) s bound") }
        }
    }

    /// `--key-outage`: the key service paused (SIGSTOP) for `seconds`, then one more rotation that must propagate.
    private func pauseKeyService(
        for seconds: Double,
        admin: KeyServiceClient,
        probe: DrillUser,
        api: DrillAPI,
        findings: inout Findings
    )
        async throws
    {
        let pid = try ListeningProcess.pid(forURL: keysURL)
        say("\ndrill: pausing the key service (pid \(pid)) for \(seconds) s")
        kill(pid, SIGSTOP)
        try await Task.sleep(for: .seconds(seconds))
        kill(pid, SIGCONT)
        say("drill: key service resumed")
        let kid = try KeyServiceClient.Metadata.decode(try await admin.send(.POST, "/v1/keys/rotate?force=true").body).currentKid
        // After an outage the followers reconnect within their backoff (≤ 2 s), then the bound applies.
        let propagated = await probe.waitUntilSigned(by: kid, api: api, limit: bound * 5 + 2)
        findings.propagation.append(("rotation after the outage → \(kid)", propagated))
        if propagated.map({ $0 > bound + 2 }) ?? true {
            findings.verdicts.append("the rotation after the outage did not propagate within \(bound + 2) s")
        }
    }

    /// `--revoke`: revokes the key that signed the probe's fresh token and times until notes rejects that token.
    private func revokeCurrentKey(
        admin: KeyServiceClient,
        probe: DrillUser,
        api: DrillAPI,
        control: DrillControl,
        findings: inout Findings
    )
        async throws
    {
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
        findings.propagation.append(("revocation of \(kid) (notes rejects its tokens)", seconds))
        if seconds.map({ $0 > bound }) ?? true { findings.verdicts.append("a revoked kid stayed accepted past the \(bound) s bound") }
        try await Task.sleep(for: .seconds(interval))
    }

    /// The `kid` in a token's header.
    static func kid(of token: String) throws -> String {
        guard let header = Base64URL.decode(token.prefix { $0 != "." }),
            let object = try? JSONSerialization.jsonObject(with: Data(header)) as? [String: Any], let kid = object["kid"] as? String
        else { throw CommandFailure("identity issued a token without a readable kid") }
        return kid
    }
}

extension Duration {
    /// The duration in seconds, fractions included.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
