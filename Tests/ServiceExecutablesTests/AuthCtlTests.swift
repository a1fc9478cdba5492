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

    @Test func everyCommandHasHelp() {
        #expect(AuthCtl.helpMessage().contains("init"))
        #expect(AuthCtl.helpMessage(for: InitCommand.self).contains("--force"))
    }
}
