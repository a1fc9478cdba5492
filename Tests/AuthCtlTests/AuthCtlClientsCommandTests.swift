import ArgumentParser
import AuthStackCore
import AuthStackTestSupport
import Foundation
import NIOHTTP1
import Testing

@testable import AuthCtl
@testable import KeyServer

/// `authctl clients …` against a real key service (docs/design.md §5.4).
@Suite struct AuthCtlClientsCommandTests {
    private func parse<Command: ParsableCommand>(_ arguments: [String], as type: Command.Type) throws -> Command {
        try #require(try AuthCtl.parseAsRoot(arguments) as? Command)
    }

    @Test func addListRotateAndRevokeAClient() async throws {
        let fixture = try KeyServiceFixture()
        let keys = try await RunningKeyService.start(fixture)
        let common = ["--url", "http://127.0.0.1:\(keys.port)", "--keys-dir", fixture.secrets.path]
        let client = try KeyServiceClient(url: "http://127.0.0.1:\(keys.port)", keysDirectory: fixture.secrets.path)
        let directory = NSTemporaryDirectory() + "authctl-clients-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let tokenFile = directory + "/billing.token"

        try await parse(["clients", "add", "billing", "--role", "verifier", "--token-file", tokenFile] + common, as: ClientsCommand.AddClient.self)
            .run()
        let attributes = try FileManager.default.attributesOfItem(atPath: tokenFile)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "the token file is private from the start")
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await keys.request("/v1/keyring", token: token).status == .ok)

        let listing = try KeyServiceClient.ClientListing.decode(try await client.send(.GET, "/v1/clients").body)
        #expect(listing.clients.map(\.name) == ["admin", "billing", "identity", "notes"])
        #expect(listing.table.contains("billing") && listing.table.contains("verifier") && !listing.table.contains(token))

        // A second add must not overwrite the file; the name is taken anyway.
        await #expect {
            try await parse(["clients", "add", "billing", "--role", "signer"] + common, as: ClientsCommand.AddClient.self).run()
        } throws: {
            "\($0)".contains("client_exists")
        }
        await #expect {
            try await parse(["clients", "add", "other", "--role", "verifier", "--token-file", tokenFile] + common, as: ClientsCommand.AddClient.self)
                .run()
        } throws: { "\($0)".contains("exists") }

        // Rotate without overlap, into the same file: the old token is refused at once, the file holds the new one.
        try await parse(["clients", "rotate", "billing", "--overlap", "0", "--token-file", tokenFile] + common, as: ClientsCommand.RotateClient.self)
            .run()
        let rotated = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(rotated != token)
        #expect(try await keys.request("/v1/keyring", token: token).status == .unauthorized)
        #expect(try await keys.request("/v1/keyring", token: rotated).status == .ok)

        try await parse(["clients", "revoke", "billing"] + common, as: ClientsCommand.RevokeClient.self).run()
        #expect(try await keys.request("/v1/keyring", token: rotated).status == .unauthorized)
        await #expect { try await parse(["clients", "revoke", "billing"] + common, as: ClientsCommand.RevokeClient.self).run() } throws: {
            "\($0)".contains("client_not_found")
        }
        // Names are checked before anything is sent.
        #expect(throws: (any Error).self) { try AuthCtl.parseAsRoot(["clients", "revoke", "../keys"] + common) }
        #expect(throws: (any Error).self) { try AuthCtl.parseAsRoot(["clients", "rotate", "billing", "--overlap", "-1"] + common) }
        #expect(throws: (any Error).self) { try AuthCtl.parseAsRoot(["clients", "add", "x", "--role", "root"] + common) }
        await keys.stop()
    }
}
