import AuthStackCore
import Foundation
import GRDB
import Synchronization
import Testing

@testable import KeyService

/// The key service's SQLite storage: atomic, versioned, durable, secrets sealed at rest.
@Suite struct SQLiteKeyStoreTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let policy = KeyLifecyclePolicy()
    let sealer = try! KeySealer(masterKey: SecretBytes(Array(repeating: 9, count: 32)))

    private func databasePath() -> String {
        let directory = NSTemporaryDirectory() + "keystore-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/keys.sqlite"
    }

    /// New keys with predictable kids and random secrets, sealed like the service seals them.
    private func keyMaker(secrets: SecretLog) -> @Sendable () -> (kid: String, sealedSecret: [UInt8]) {
        let sealer = self.sealer
        return {
            let kid = "k-\(UUID().uuidString.prefix(8).lowercased())"
            let secret = SecretBytes.random(count: 32)
            secrets.record(secret)
            return (kid, sealer.seal(secret, kid: kid))
        }
    }

    @Test func freshStoreIsEmptyAtVersionZeroInWALMode() async throws {
        let path = databasePath()
        let store = try await SQLiteKeyStore(path: path)
        #expect(try await store.snapshot() == KeyStoreSnapshot(version: 0, keys: []))
        let mode = try await DatabaseQueue(path: path).read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
    }

    @Test func bootstrapPersistsAcrossReopening() async throws {
        let path = databasePath()
        let policy = self.policy
        let store = try await SQLiteKeyStore(path: path)
        let snapshot = try await store.transact(now: Self.t0, makeKey: keyMaker(secrets: SecretLog())) { keys in
            policy.scheduledTransitions(for: keys, now: Self.t0)
        }
        #expect(snapshot.version == 1)
        #expect(snapshot.keys.map(\.metadata.status) == [.current, .next] || snapshot.keys.map(\.metadata.status) == [.next, .current])
        let reopened = try await SQLiteKeyStore(path: path)
        #expect(try await reopened.snapshot() == snapshot)
    }

    @Test func secretsAreStoredSealedUnderTheirKid() async throws {
        let path = databasePath()
        let policy = self.policy
        let secrets = SecretLog()
        let store = try await SQLiteKeyStore(path: path)
        let snapshot = try await store.transact(now: Self.t0, makeKey: keyMaker(secrets: secrets)) { keys in
            policy.scheduledTransitions(for: keys, now: Self.t0)
        }
        let opened = try snapshot.keys.map { try sealer.open($0.sealedSecret, kid: $0.metadata.kid) }
        #expect(Set(opened.map(\.bytes)) == Set(secrets.all.map(\.bytes)))
        let file = try Data(contentsOf: URL(fileURLWithPath: path)) + ((try? Data(contentsOf: URL(fileURLWithPath: path + "-wal"))) ?? Data())
        for secret in secrets.all {
            #expect(file.range(of: Data(secret.bytes)) == nil, "a secret is in the database file in the clear")
        }
    }

    @Test func refusedOperationChangesNothing() async throws {
        let policy = self.policy
        let store = try await SQLiteKeyStore(path: databasePath())
        let maker = keyMaker(secrets: SecretLog())
        let before = try await store.transact(now: Self.t0, makeKey: maker) { policy.scheduledTransitions(for: $0, now: Self.t0) }
        await #expect(throws: KeyLifecycleError.rotationTooSoon(retryAfter: 110)) {
            try await store.transact(now: Self.t0.addingTimeInterval(10), makeKey: maker) { keys in
                try policy.rotation(for: keys, now: Self.t0.addingTimeInterval(10), force: false)
            }
        }
        #expect(try await store.snapshot() == before)
    }

    @Test func concurrentRotationsApplyOneAtATime() async throws {
        let policy = self.policy
        let store = try await SQLiteKeyStore(path: databasePath())
        let maker = keyMaker(secrets: SecretLog())
        _ = try await store.transact(now: Self.t0, makeKey: maker) { policy.scheduledTransitions(for: $0, now: Self.t0) }
        let now = Self.t0.addingTimeInterval(60)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    _ = try await store.transact(now: now, makeKey: maker) { try policy.rotation(for: $0, now: now, force: true) }
                }
            }
            try await group.waitForAll()
        }
        let snapshot = try await store.snapshot()
        #expect(snapshot.version == 11)
        #expect(snapshot.keys.filter { $0.metadata.status == .current }.count == 1)
        #expect(snapshot.keys.filter { $0.metadata.status == .next }.count == 1)
        #expect(snapshot.keys.filter { $0.metadata.status == .previous }.count == 10)
    }
}

/// Collects generated secrets so a test can look for them in the database file.
final class SecretLog: Sendable {
    private let secrets = Mutex<[SecretBytes]>([])
    func record(_ secret: SecretBytes) { secrets.withLock { $0.append(secret) } }
    var all: [SecretBytes] { secrets.withLock { $0 } }
}
