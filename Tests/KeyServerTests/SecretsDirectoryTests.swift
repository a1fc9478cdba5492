import AuthStackCore
import Foundation
import Testing

@testable import KeyServer

@Suite struct SecretsDirectoryTests {
    private func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "authstack-secrets-\(UUID().uuidString)/keys"
        return path
    }

    @Test func initWritesMasterKeyAndOneTokenPerClientWithMode0600() throws {
        let path = temporaryDirectory()
        let written = try SecretsDirectory(path: path).initialize(force: false)
        #expect(written.map { ($0 as NSString).lastPathComponent } == ["master.key", "identity.token", "notes.token", "admin.token"])
        for file in written {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
        }
        let directory = SecretsDirectory(path: path)
        #expect(Base64URL.decode(try directory.read("master.key"))?.count == 32)
        let token = try directory.read("admin.token")
        #expect(token.hasPrefix("ast_") && Base64URL.decode(token.dropFirst(4))?.count == 32)
        #expect(try directory.read("identity.token") != directory.read("notes.token"))
    }

    /// `authctl init` on an existing `keys/` (made by hand, or 0755 by an older version) closes it to other users.
    @Test func initTightensAnExistingDirectoryTo0700() throws {
        let path = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        _ = try SecretsDirectory(path: path).initialize(force: false)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int).map { $0 & 0o777 } == 0o700)
    }

    @Test func initNeverOverwritesWithoutForce() throws {
        let path = temporaryDirectory()
        let directory = SecretsDirectory(path: path)
        try directory.initialize(force: false)
        let before = try directory.read("master.key")
        #expect(throws: SecretsDirectory.Failure.self) { try directory.initialize(force: false) }
        #expect(try directory.read("master.key") == before)
        try directory.initialize(force: true)
        #expect(try directory.read("master.key") != before)
    }
}
