import ArgumentParser
import Foundation
import Testing

@testable import AuthCtl

/// `authctl` parses its commands and `init` writes the secrets, refusing to overwrite them.
@Suite struct AuthCtlTests {
    private func temporaryKeysDirectory() -> String {
        NSTemporaryDirectory() + "authctl-\(UUID().uuidString)/keys"
    }

    @Test func initWritesTheSecretFiles() throws {
        let directory = temporaryKeysDirectory()
        let command = try #require(try AuthCtl.parseAsRoot(["init", "--keys-dir", directory]) as? InitCommand)
        try command.run()
        for name in ["master.key", "identity.token", "notes.token", "admin.token"] {
            #expect(FileManager.default.fileExists(atPath: directory + "/" + name))
        }
    }

    @Test func secondInitWithoutForceFailsWithAClearMessage() throws {
        let directory = temporaryKeysDirectory()
        let first = try #require(try AuthCtl.parseAsRoot(["init", "--keys-dir", directory]) as? InitCommand)
        try first.run()
        let second = try #require(try AuthCtl.parseAsRoot(["init", "--keys-dir", directory]) as? InitCommand)
        do {
            try second.run()
            Issue.record("second init succeeded")
        } catch {
            #expect(AuthCtl.message(for: error).contains("--force"))
        }
        let forced = try #require(try AuthCtl.parseAsRoot(["init", "--keys-dir", directory, "--force"]) as? InitCommand)
        try forced.run()
    }

    @Test func initForComposeWritesTheDatabasePasswordAndOpensTheFilesToContainersOnly() throws {
        let directory = temporaryKeysDirectory()
        let command = try #require(try AuthCtl.parseAsRoot(["init", "--keys-dir", directory, "--compose"]) as? InitCommand)
        try command.run()
        #expect(try mode(directory) == 0o700)
        for name in ["master.key", "identity.token", "notes.token", "admin.token", "postgres.password"] {
            #expect(try mode(directory + "/" + name) == 0o644, "\(name)")
        }
        let password = try String(contentsOfFile: directory + "/postgres.password", encoding: .utf8)
        #expect(password.hasSuffix("\n"))
        #expect(password.dropLast().count == 43)
        #expect(password.dropLast().allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
    }

    @Test func initForComposeKeepsTheSecretsOfAnEarlierInit() throws {
        let directory = temporaryKeysDirectory()
        try #require(try AuthCtl.parseAsRoot(["init", "--keys-dir", directory]) as? InitCommand).run()
        let masterKey = try String(contentsOfFile: directory + "/master.key", encoding: .utf8)
        #expect(try mode(directory + "/master.key") == 0o600)
        try #require(try AuthCtl.parseAsRoot(["init", "--keys-dir", directory, "--compose"]) as? InitCommand).run()
        let password = try String(contentsOfFile: directory + "/postgres.password", encoding: .utf8)
        try #require(try AuthCtl.parseAsRoot(["init", "--keys-dir", directory, "--compose"]) as? InitCommand).run()
        #expect(try String(contentsOfFile: directory + "/master.key", encoding: .utf8) == masterKey)
        #expect(try String(contentsOfFile: directory + "/postgres.password", encoding: .utf8) == password)
        #expect(try mode(directory + "/master.key") == 0o644)
    }

    @Test func initForComposeRefusesToCompleteAPartialSetOfSecrets() throws {
        let directory = temporaryKeysDirectory()
        try #require(try AuthCtl.parseAsRoot(["init", "--keys-dir", directory]) as? InitCommand).run()
        try FileManager.default.removeItem(atPath: directory + "/notes.token")
        let command = try #require(try AuthCtl.parseAsRoot(["init", "--keys-dir", directory, "--compose"]) as? InitCommand)
        do {
            try command.run()
            Issue.record("init --compose completed a partial set")
        } catch {
            #expect(AuthCtl.message(for: error).contains("notes.token"))
            #expect(AuthCtl.message(for: error).contains("--force"))
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/postgres.password"))
    }

    private func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try #require(attributes[.posixPermissions] as? Int) & 0o777
    }

    @Test func everyCommandHasHelp() {
        #expect(AuthCtl.helpMessage().contains("init"))
        #expect(AuthCtl.helpMessage(for: InitCommand.self).contains("--force"))
        #expect(AuthCtl.helpMessage(for: InitCommand.self).contains("--compose"))
    }
}

/// `authctl up --host 0.0.0.0` opens identity, notes and the gateway to the network, never the key service: its API
/// hands out the signing keys and its `/metrics` needs no token (issue 17, item 10).
@Suite struct UpKeyServiceAddressTests {
    private func services(_ arguments: [String]) throws -> [String: UpCommand.Service] {
        let command = try #require(try AuthCtl.parseAsRoot(["up"] + arguments) as? UpCommand)
        return Dictionary(uniqueKeysWithValues: command.services(proxySocket: "/tmp/authstack-test/identity.sock").map { ($0.name, $0) })
    }

    @Test func theKeyServiceStaysOnLoopbackWhateverHostSays() throws {
        let services = try services(["--host", "0.0.0.0"])
        #expect(services["keys"]?.host == "127.0.0.1")
        #expect(services["keys"]?.environment["KEYS_HOST"] == "127.0.0.1")
        #expect(services["identity"]?.environment["IDENTITY_HOST"] == "0.0.0.0")
        #expect(services["notes"]?.environment["NOTES_HOST"] == "0.0.0.0")
        #expect(services["identity"]?.environment["IDENTITY_KEYS_URL"] == "http://127.0.0.1:8083")
        #expect(services["notes"]?.environment["NOTES_KEYS_URL"] == "http://127.0.0.1:8083")
    }

    /// Over loopback TCP the gateway and any local client look the same, so identity under `up` trusts no TCP peer's
    /// `X-Forwarded-For`: the gateway reaches it on a socket of its own (issue 17, item 4).
    @Test func identityBelievesForwardedForOnlyOnTheGatewaysSocket() throws {
        let command = try #require(try AuthCtl.parseAsRoot(["up"]) as? UpCommand)
        let identity = try #require(command.services(proxySocket: "/tmp/up-test/identity.sock").first { $0.name == "identity" })
        #expect(identity.environment["IDENTITY_TRUSTED_PROXIES"] == nil, "no TCP peer is a trusted proxy, loopback included")
        #expect(identity.environment["IDENTITY_PROXY_SOCKET"] == "/tmp/up-test/identity.sock")
        let upstreams = command.gatewayUpstreams(proxySocket: "/tmp/up-test/identity.sock")
        #expect(upstreams.identity.baseURL == "http+unix://%2Ftmp%2Fup%2Dtest%2Fidentity%2Esock")
        #expect(upstreams.notes.baseURL == "http://127.0.0.1:8082")

        let inData = try UpCommand.proxySocket(dataDirectory: "/var/lib/authstack/data")
        #expect(inData.path == "/var/lib/authstack/data/identity.sock" && inData.temporaryDirectory == nil)
        let long = try UpCommand.proxySocket(dataDirectory: "/tmp/" + String(repeating: "d", count: 120))
        let directory = try #require(long.temporaryDirectory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(long.path == directory + "/identity.sock" && long.path.utf8.count <= 100, "too long for a socket address: a short private directory")
        let permissions = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int
        #expect(permissions == 0o700, "only this user may reach the socket")
    }

    @Test func keysHostMovesItDeliberately() throws {
        let services = try services(["--keys-host", "::1", "--keys-port", "9083"])
        #expect(services["keys"]?.environment["KEYS_HOST"] == "::1")
        #expect(services["identity"]?.environment["IDENTITY_KEYS_URL"] == "http://[::1]:9083")
    }
}
