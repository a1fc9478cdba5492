import AuthStackCore
import Foundation
import GRDB
import Synchronization
import Testing

@testable import KeyServer

/// What only the SQLite key store promises: WAL mode, and no secret anywhere in its files. The contract both stores
/// share is in ``KeyStoreConformanceTests``.
@Suite struct SQLiteKeyStoreTests {
    let policy = KeyLifecyclePolicy()

    private func databasePath() -> String {
        let directory = NSTemporaryDirectory() + "keystore-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/keys.sqlite"
    }

    @Test func freshStoreIsInWALMode() async throws {
        let path = databasePath()
        _ = try await SQLiteKeyStore(path: path)
        let mode = try await DatabaseQueue(path: path).read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
    }

    @Test func noSecretIsInTheDatabaseFilesInTheClear() async throws {
        let path = databasePath()
        let policy = self.policy
        let secrets = SecretLog()
        let store = try await SQLiteKeyStore(path: path)
        _ = try await store.transact(now: TestKeys.t0, makeKey: TestKeys.maker(secrets: secrets)) { keys in
            policy.scheduledTransitions(for: keys, now: TestKeys.t0)
        }
        #expect(secrets.all.count == 2)
        let file = try Data(contentsOf: URL(fileURLWithPath: path)) + ((try? Data(contentsOf: URL(fileURLWithPath: path + "-wal"))) ?? Data())
        for secret in secrets.all {
            #expect(file.range(of: Data(secret.bytes)) == nil, "a secret is in the database file in the clear")
        }
    }
}

/// Collects generated secrets so a test can look for them in the database file.
final class SecretLog: Sendable {
    private let secrets = Mutex<[SecretBytes]>([])
    func record(_ secret: SecretBytes) { secrets.withLock { $0.append(secret) } }
    var all: [SecretBytes] { secrets.withLock { $0 } }
}
