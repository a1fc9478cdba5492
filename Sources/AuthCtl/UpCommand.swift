import ArgumentParser
import AsyncHTTPClient
import AuthStackCore
import Foundation
import KeyServer
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `authctl up`: the whole stack on this machine, one process per service, on SQLite with generated secrets
/// (DESIGN.md §9).
struct UpCommand: AsyncParsableCommand {
    /// `up`'s name and help.
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start the key, identity and notes services locally (SQLite, secrets in keys/) and stop them on Ctrl-C.",
        discussion: """
            Runs `authctl init` first when keys/ holds no secrets. Waits until every service's /readyz answers 200, prints \
            the URLs and a curl walk-through, and streams each service's log lines with its name in front. Ctrl-C or \
            SIGTERM stops all three; if one of them exits on its own, the others are stopped too and authctl exits 1. \
            A gateway in this process puts the demo web client (web/, at /app/) and both APIs on one origin, with the \
            compose gateway's routes: /notes and /notes/{id} to notes, identity's public paths to identity, every other \
            path (/v1/…, /readyz, /metrics) a 404.
            """
    )

    /// `--keys-dir`: the secrets.
    @Option(name: .customLong("keys-dir"), help: "Directory with master.key and the client tokens.")
    var keysDirectory = "keys"

    /// `--data-dir`: the services' databases.
    @Option(name: .customLong("data-dir"), help: "Directory for the SQLite databases.")
    var dataDirectory = "data"

    /// `--host`: where identity, notes and the gateway listen.
    @Option(help: "Address identity, notes and the gateway listen on.")
    var host = "127.0.0.1"

    /// `--keys-host`: where the key service listens. Loopback whatever `--host` says: its API hands out the signing
    /// keys to its clients, and its `/metrics` needs no token (docs/security.md).
    @Option(name: .customLong("keys-host"), help: "Address the key service listens on (internal: keep it on loopback).")
    var keysHost = "127.0.0.1"

    /// `--identity-port`.
    @Option(name: .customLong("identity-port")) var identityPort = 8081
    /// `--notes-port`.
    @Option(name: .customLong("notes-port")) var notesPort = 8082
    /// `--keys-port`.
    @Option(name: .customLong("keys-port")) var keysPort = 8083
    /// `--gateway-port`.
    @Option(name: .customLong("gateway-port"), help: "Port of the gateway that serves the web client at /app/ and proxies the APIs.")
    var gatewayPort = 8080

    /// `--web-root`: the web client's directory (see ``locateWebRoot(explicit:currentDirectory:executable:)``).
    @Option(name: .customLong("web-root"), help: "Directory with the web client (default: web/ here or in the package that holds authctl).")
    var webRoot: String?

    /// `--bin-dir`: where the service binaries are.
    @Option(name: .customLong("bin-dir"), help: "Directory with the service binaries (default: next to authctl).")
    var binaryDirectory: String?

    /// `--secure-cookies`: keep `Secure` on identity's refresh cookie.
    @Flag(
        name: .customLong("secure-cookies"),
        help: "Keep `Secure` on the refresh cookie (needs HTTPS, or a browser on 127.0.0.1/localhost, which counts as secure)."
    )
    var secureCookies = false

    /// `--log-level`: the services' `LOG_LEVEL`.
    @Option(name: .customLong("log-level"), help: "LOG_LEVEL for the services.")
    var logLevel = "info"

    /// `--timeout`: seconds until start-up counts as failed.
    @Option(help: "Seconds to wait for every service to become ready.")
    var timeout = 120

    /// `--with-example`: also run Examples/WhoAmI.
    @Flag(
        name: .customLong("with-example"),
        help: "Also run the example service (Examples/WhoAmI: GET /whoami) on --example-port, with a key-service client of its own."
    )
    var withExample = false

    /// `--example-port`: the example service's port.
    @Option(name: .customLong("example-port")) var examplePort = 8084

    /// The key-service client the example follows the keyring with, and the `aud` its tokens carry.
    static let exampleClient = "whoami"

    /// One service process to start.
    struct Service {
        /// Its name in log prefixes and messages (`keys`, `identity`, `notes`).
        let name: String
        /// The executable's path.
        let binary: String
        /// The address it listens on.
        let host: String
        /// The port it listens on.
        let port: Int
        /// Its configuration, added to authctl's own environment.
        let environment: [String: String]
    }

    /// The three services, configured for this machine: SQLite in --data-dir, secrets in --keys-dir; identity also
    /// answers on `proxySocket`, where the gateway reaches it (``gatewayUpstreams(proxySocket:)``).
    func services(proxySocket: String) -> [Service] {
        let directory = binaries
        return [
            Service(
                name: "keys",
                binary: directory + "/key-service",
                host: keysHost,
                port: keysPort,
                environment: [
                    "KEYS_HOST": keysHost, "KEYS_PORT": String(keysPort), "KEYS_DATABASE_PATH": dataDirectory + "/keys.sqlite",
                    "KEYS_SECRETS_DIR": keysDirectory,
                ]
            ),
            Service(
                name: "identity",
                binary: directory + "/identity-service",
                host: host,
                port: identityPort,
                environment: [
                    "IDENTITY_HOST": host, "IDENTITY_PORT": String(identityPort), "IDENTITY_DATABASE_PATH": dataDirectory + "/identity.sqlite",
                    "IDENTITY_KEYS_URL": keysURL, "IDENTITY_KEYS_TOKEN_FILE": keysDirectory + "/identity.token",
                    "IDENTITY_COOKIE_SECURE": secureCookies ? "true" : "false",
                    // The gateway's requests arrive on this socket, and only there is X-Forwarded-For believed: over
                    // loopback TCP the gateway and any local client look the same (docs/security.md, "client address").
                    "IDENTITY_PROXY_SOCKET": proxySocket,
                ].merging(withExample ? ["IDENTITY_AUDIENCES": "identity,notes,\(Self.exampleClient)"] : [:]) { $1 }
            ),
            Service(
                name: "notes",
                binary: directory + "/notes-service",
                host: host,
                port: notesPort,
                environment: [
                    "NOTES_HOST": host, "NOTES_PORT": String(notesPort), "NOTES_DATABASE_PATH": dataDirectory + "/notes.sqlite",
                    "NOTES_KEYS_URL": keysURL, "NOTES_KEYS_TOKEN_FILE": keysDirectory + "/notes.token",
                ]
            ),
        ]
    }

    /// With `--with-example`, the example service (Examples/WhoAmI): started once the key service is ready and has
    /// given it a client token of its own (``issueExampleToken()``), which it reads from `keys/whoami.token`.
    var example: Service? {
        guard withExample else { return nil }
        return Service(
            name: "example",
            binary: binaries + "/whoami-example",
            host: host,
            port: examplePort,
            environment: [
                "EXAMPLE_HOST": host, "EXAMPLE_PORT": String(examplePort), "EXAMPLE_KEYS_URL": keysURL,
                "EXAMPLE_KEYS_TOKEN_FILE": keysDirectory + "/\(Self.exampleClient).token", "EXAMPLE_AUDIENCE": Self.exampleClient,
            ]
        )
    }

    /// A fresh token for the example's client, written to `keys/whoami.token` (0600): its old token, if any, is
    /// replaced at once (a rotation without overlap), else the client is added. Each `up` thus hands the example a
    /// token the key service knows, whatever the state of the data directory.
    private func issueExampleToken() async throws {
        let client = try KeyServiceClient(url: keysURL, keysDirectory: keysDirectory)
        var answer = try await client.exchange(.POST, "/v1/clients/\(Self.exampleClient)/rotate?overlap=0")
        if answer.status == 404 {
            answer = try await client.exchange(.POST, "/v1/clients", json: ["name": Self.exampleClient, "role": "verifier"])
        }
        let issued = try KeyServiceClient.IssuedToken.decode(try client.checked(answer).body)
        do {
            try SecretsDirectory.writePrivate(issued.token + "\n", to: keysDirectory + "/\(Self.exampleClient).token")
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    /// Where the service binaries are: `--bin-dir`, else next to authctl.
    var binaries: String { binaryDirectory ?? Bundle.main.executableURL?.deletingLastPathComponent().path ?? "." }

    /// The key service as its clients (and authctl) reach it.
    var keysURL: String { "http://\(Self.urlHost(keysHost)):\(keysPort)" }

    /// `host` as it goes into a URL: a wildcard address becomes loopback, an IPv6 address gets brackets.
    static func urlHost(_ host: String) -> String {
        if host == "0.0.0.0" { return "127.0.0.1" }
        if host == "::" { return "[::1]" }
        return host.contains(":") ? "[\(host)]" : host
    }

    /// Ports in range and all different.
    func validate() throws {
        let ports = [identityPort, notesPort, keysPort, gatewayPort] + (withExample ? [examplePort] : [])
        for port in ports where !(1...65535).contains(port) {
            throw ValidationError("port \(port) is out of range")
        }
        guard Set(ports).count == ports.count else {
            throw ValidationError("the services and the gateway need \(ports.count) different ports")
        }
    }

    /// Checks, prepares the secrets, starts the services and the gateway, and supervises them until a signal or a failure.
    func run() async throws {
        let socket = try Self.proxySocket(dataDirectory: dataDirectory)
        defer {
            // A socket file left by a run that was killed is replaced by the next bind; a clean stop removes it.
            try? FileManager.default.removeItem(atPath: socket.temporaryDirectory ?? socket.path)
        }
        let proxySocket = socket.path
        let services = self.services(proxySocket: proxySocket)
        let webRoot = try checkBeforeStarting(services + [example].compactMap { $0 })
        try prepareSecrets()
        // 0700 like the directories the services create themselves: the databases, and identity's proxy socket, whose
        // every caller is believed about the client's address.
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard chmod(dataDirectory, 0o700) == 0 else {
            throw CommandFailure("cannot make \(dataDirectory) private (chmod 0700): \(String(cString: strerror(errno)))")
        }

        let supervisor = Supervisor()
        supervisor.watchSignals()
        for service in services {
            try supervisor.start(service, logLevel: logLevel)
        }
        let gateway = GatewayRunner(
            host: host,
            port: gatewayPort,
            webRoot: webRoot,
            upstreams: gatewayUpstreams(proxySocket: proxySocket),
            supervisor: supervisor
        )
        let readiness = startReadinessChecks(services, supervisor: supervisor)
        defer { readiness.cancel() }
        try await supervise(supervisor, gateway: gateway)
    }

    /// Before anything starts: the binaries exist, the web client is found, every port is free. Returns the web root.
    private func checkBeforeStarting(_ services: [Service]) throws -> String {
        for service in services where !FileManager.default.isExecutableFile(atPath: service.binary) {
            throw CommandFailure("\(service.binary) is missing: build the services first (`swift build`), or pass --bin-dir")
        }
        let webRoot = try Self.locateWebRoot(
            explicit: self.webRoot,
            currentDirectory: FileManager.default.currentDirectoryPath,
            executable: Bundle.main.executableURL
        )
        for (name, host, port) in [("gateway", host, gatewayPort)] + services.map({ ($0.name, $0.host, $0.port) }) {
            if let problem = Self.portProblem(host: host, port: port) {
                let what = name == "gateway" ? "the gateway" : "the \(name) service"
                throw CommandFailure("port \(port) for \(what) is \(problem); stop what uses it or pass --\(name)-port")
            }
        }
        return webRoot
    }

    /// Polls the services' `/readyz` and the gateway's `/app/` in the background; posts `.ready` or `.notReady`. With
    /// `--with-example`, the example starts once the key service is ready and has issued its token.
    private func startReadinessChecks(_ services: [Service], supervisor: Supervisor) -> Task<Void, Never> {
        let example = self.example
        let readiness = { (service: Service) in (name: service.name, url: "http://\(Self.urlHost(service.host)):\(service.port)/readyz") }
        let checks =
            (services + [example].compactMap { $0 }).map(readiness)
            + [(name: "gateway", url: "http://\(Self.urlHost(host)):\(gatewayPort)/app/")]
        let logLevel = self.logLevel
        return Task {
            do {
                if let example, let keys = services.first(where: { $0.name == "keys" }) {
                    try await waitUntilReady([readiness(keys)])
                    try await issueExampleToken()
                    try supervisor.start(example, logLevel: logLevel)
                }
                try await waitUntilReady(checks)
                supervisor.post(.ready)
            } catch let error as NotReady {
                supervisor.post(.notReady(error.message))
            } catch is CancellationError {
            } catch {
                supervisor.post(.notReady("the example service could not start: \(error)"))
            }
        }
    }

    /// Prints the banner once everything is ready; stops everything on a signal (returning) or when a service exits or
    /// start-up fails (throwing).
    private func supervise(_ supervisor: Supervisor, gateway: GatewayRunner) async throws {
        var ready = false
        for await event in supervisor.events {
            switch event {
            case .ready:
                ready = true
                printBanner()
                continue
            case .signal:
                say("authctl: stopping the services…")
                await gateway.stop()
                supervisor.stopAll()
                return
            case .exited(let name, let status):
                await gateway.stop()
                supervisor.stopAll()
                let when = ready ? "" : "during start-up "
                throw CommandFailure("the \(name) service exited \(when)(status \(status)); its log is above. Stopped the others.")
            case .notReady(let message):
                await gateway.stop()
                supervisor.stopAll()
                throw CommandFailure(message)
            }
        }
    }

    /// Writes the secrets when keys/ has none; refuses a keys/ that holds only some of them.
    private func prepareSecrets() throws {
        let directory = SecretsDirectory(path: keysDirectory)
        let names = ["master.key"] + SecretsDirectory.clients.map { "\($0.name).token" }
        let present = names.filter { FileManager.default.fileExists(atPath: keysDirectory + "/" + $0) }
        if present.isEmpty {
            do {
                for path in try directory.initialize(force: false) { say("authctl: wrote \(path)") }
            } catch {
                throw CommandFailure(error.description)
            }
        } else if present.count < names.count {
            let missing = Set(names).subtracting(present).sorted()
            throw CommandFailure(
                "\(keysDirectory)/ lacks \(missing.joined(separator: ", ")); restore it or regenerate all with `authctl init --force` "
                    + "(this makes stored keys unreadable)"
            )
        }
    }

    /// Polls each (name, URL) until it answers 200: the services' `/readyz`, the gateway's `/app/`.
    private func waitUntilReady(_ checks: [(name: String, url: String)]) async throws {
        let deadline = ContinuousClock.now + .seconds(timeout)
        var waiting = checks
        while !waiting.isEmpty {
            try Task.checkCancellation()
            var still: [(name: String, url: String)] = []
            for check in waiting {
                let ready = (try? await HTTPClient.shared.execute(HTTPClientRequest(url: check.url), timeout: .seconds(2)).status.code) == 200
                if !ready { still.append(check) }
            }
            waiting = still
            if waiting.isEmpty { return }
            guard ContinuousClock.now < deadline else {
                throw NotReady(message: "not ready after \(timeout) s: \(waiting.map(\.name).joined(separator: ", ")); see the log above")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Start-up did not finish in time.
    struct NotReady: Error {
        /// Which checks were still failing.
        let message: String
    }

    /// The URLs and a curl walk-through, once everything is ready.
    private func printBanner() {
        let h = Self.urlHost(host)
        say(
            """

            AuthStack is up.
              identity  http://\(h):\(identityPort)   (signup, login, refresh, logout, me, sessions)
              notes     http://\(h):\(notesPort)   (/notes)
              keys      \(keysURL)   (internal; admin: authctl keys list|rotate|revoke)
              gateway   http://\(h):\(gatewayPort)   (one origin: /app/ web client, /notes… notes, identity's public paths, else 404)\(
                withExample ? "\n  example   http://\(h):\(examplePort)   (GET /whoami: Examples/WhoAmI, tokens with aud \(Self.exampleClient))" : "")
              data in \(dataDirectory)/, secrets in \(keysDirectory)/

            Demo web client: http://\(h):\(gatewayPort)/app/

            Try it:
              curl -s -c cookies.txt -X POST http://\(h):\(identityPort)/signup -H 'Content-Type: application/json' \\
                   -d '{"username":"ada","password":"correct horse battery staple"}' | tee signup.json
              ACCESS=$(jq -r .access_token signup.json)
              curl -s http://\(h):\(identityPort)/me -H "Authorization: Bearer $ACCESS"
              curl -s -X POST http://\(h):\(notesPort)/notes -H "Authorization: Bearer $ACCESS" \\
                   -H 'Content-Type: application/json' -d '{"title":"first note","body":"hello"}'
              curl -s http://\(h):\(notesPort)/notes -H "Authorization: Bearer $ACCESS"
              curl -s -b cookies.txt -c cookies.txt -X POST http://\(h):\(identityPort)/refresh
              curl -s -b cookies.txt -c cookies.txt -X POST http://\(h):\(identityPort)/logout -i

            Ctrl-C stops the services and the gateway.

            """
        )
    }

    /// Why `port` cannot be used on `host`, or nil when a listener could bind it now.
    static func portProblem(host: String, port: Int) -> String? {
        do {
            let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).wait()
            try channel.close().wait()
            return nil
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            return "in use"
        } catch {
            return "unusable (\(error))"
        }
    }
}
