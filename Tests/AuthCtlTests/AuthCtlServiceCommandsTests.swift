import ArgumentParser
import AuthStackCore
import AuthStackTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import AuthCtl
@testable import KeyServer

/// `authctl keys …` against a real key service, and `authctl up`'s start-up checks. (`up` itself runs in
/// scripts/e2e.sh, which the README's test command runs after these.)
@Suite struct AuthCtlServiceCommandsTests {
    private func parse<Command: ParsableCommand>(_ arguments: [String], as type: Command.Type) throws -> Command {
        try #require(try AuthCtl.parseAsRoot(arguments) as? Command)
    }

    @Test func keysListRotateAndRevokeTalkToTheKeyService() async throws {
        let fixture = try KeyServiceFixture()
        let keys = try await RunningKeyService.start(fixture)
        let common = ["--url", "http://127.0.0.1:\(keys.port)", "--keys-dir", fixture.secrets.path]
        let client = try KeyServiceClient(url: "http://127.0.0.1:\(keys.port)", keysDirectory: fixture.secrets.path)
        let before = try KeyServiceClient.Metadata.decode(try await client.send(.GET, "/v1/keys").body)
        #expect(before.keys.count == 2)
        #expect(before.table.contains("current") && before.table.contains("next"))
        #expect(!before.table.contains(try fixture.token("admin")))

        try await parse(["keys", "rotate", "--force"] + common, as: KeysCommand.RotateKeys.self).run()
        let after = try KeyServiceClient.Metadata.decode(try await client.send(.GET, "/v1/keys").body)
        #expect(after.version == before.version + 1)
        #expect(after.currentKid != before.currentKid)

        // Without --force, a rotation right after another is refused with the wait and the way out.
        do {
            try await parse(["keys", "rotate"] + common, as: KeysCommand.RotateKeys.self).run()
            Issue.record("a rotation inside the publish lead succeeded")
        } catch {
            #expect("\(error)".contains("rotation_too_soon") && "\(error)".contains("--force"))
        }
        try await parse(["keys", "revoke", before.currentKid] + common, as: KeysCommand.RevokeKey.self).run()
        let revoked = try KeyServiceClient.Metadata.decode(try await client.send(.GET, "/v1/keys").body)
        #expect(revoked.keys.first { $0.kid == before.currentKid }?.status == "revoked")
        #expect(throws: (any Error).self) { try AuthCtl.parseAsRoot(["keys", "revoke", "not a kid!"] + common) }
        await keys.stop()
    }

    @Test func keyCommandsSayWhatIsWrong() async throws {
        let fixture = try KeyServiceFixture()
        let keys = try await RunningKeyService.start(fixture)
        // A token that is not the admin's.
        let other = NSTemporaryDirectory() + "authctl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        try "ast_wrong".write(toFile: other + "/admin.token", atomically: true, encoding: .utf8)
        await #expect { try await KeyServiceClient(url: "http://127.0.0.1:\(keys.port)", keysDirectory: other).send(.GET, "/v1/keys") } throws: {
            "\($0)".contains("refused the admin token")
        }
        // The notes token is a verifier's: 403.
        try fixture.token("notes").write(toFile: other + "/admin.token", atomically: true, encoding: .utf8)
        await #expect { try await KeyServiceClient(url: "http://127.0.0.1:\(keys.port)", keysDirectory: other).send(.GET, "/v1/keys") } throws: {
            "\($0)".contains("not an admin token")
        }
        await keys.stop()
        // Nobody listening.
        await #expect {
            try await KeyServiceClient(url: "http://127.0.0.1:\(keys.port)", keysDirectory: fixture.secrets.path).send(.GET, "/v1/keys")
        } throws: { "\($0)".contains("cannot reach the key service") }
        // No secrets at all.
        #expect { try KeyServiceClient(url: "http://127.0.0.1:1", keysDirectory: other + "/missing") } throws: { "\($0)".contains("authctl init") }
    }

    @Test func upNamesABusyPortAndMissingBinaries() async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let busy = try #require(channel.localAddress?.port)
        #expect(UpCommand.portProblem(host: "127.0.0.1", port: busy) == "in use")
        try await channel.close()

        let empty = NSTemporaryDirectory() + "authctl-bin-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let up = try parse(["up", "--bin-dir", empty, "--keys-dir", empty + "/keys"], as: UpCommand.self)
        await #expect { try await up.run() } throws: { "\($0)".contains("key-service is missing") && "\($0)".contains("swift build") }
        #expect(throws: (any Error).self) { try AuthCtl.parseAsRoot(["up", "--identity-port", "8082", "--notes-port", "8082"]) }
        #expect(AuthCtl.helpMessage(for: UpCommand.self).contains("--identity-port"))
        #expect(AuthCtl.helpMessage(for: KeysCommand.RotateKeys.self).contains("--force"))
    }
}
