import AuthStackCore
import AuthStackStorage
import AuthStackTestSupport
import Foundation
import GRDB
import PostgresNIO
import Testing

@testable import KeyServer

/// A key's algorithm is part of the key (issue 19, item 4), on both backends: stored when the key is made, never
/// changed by a later transition, and HS256 for every key made before the algorithm was stored.
@Suite(.timeLimit(.minutes(2))) struct KeyStoreAlgorithmTests {
    let policy = KeyLifecyclePolicy()

    @Test(arguments: StoreKind.tested)
    func eachKeyKeepsTheAlgorithmItWasMadeWith(kind: StoreKind) async throws {
        let policy = self.policy
        try await TestDatabase.with(kind) { database in
            let store = try await database.keyStore()
            let first = try await store.transact(now: TestKeys.t0, makeKey: TestKeys.maker(algorithm: .hs256)) {
                policy.scheduledTransitions(for: $0, now: TestKeys.t0)
            }
            let later = TestKeys.t0.addingTimeInterval(300)
            _ = try await store.transact(now: later, makeKey: TestKeys.maker(algorithm: .edDSA)) {
                try policy.rotation(for: $0, now: later, force: false)
            }
            let last = later.addingTimeInterval(300)
            let snapshot = try await store.transact(now: last, makeKey: TestKeys.maker(algorithm: .hs256)) {
                try policy.rotation(for: $0, now: last, force: false)
            }
            let algorithms = Dictionary(uniqueKeysWithValues: snapshot.keys.map { ($0.metadata.kid, $0.metadata.algorithm) })
            for key in first.keys { #expect(algorithms[key.metadata.kid] == .hs256) }
            // The EdDSA key was made as `next`, became `current`, and kept its algorithm through both updates.
            let edDSA = snapshot.keys.filter { $0.metadata.algorithm == .edDSA }
            #expect(edDSA.map(\.metadata.status) == [.current])
            #expect(snapshot.keys.first { $0.metadata.status == .next }?.metadata.algorithm == .hs256)
            let reopened = try await database.keyStore()
            #expect(try await reopened.snapshot() == snapshot)
        }
    }

    @Test(arguments: StoreKind.tested)
    func keysMadeBeforeTheAlgorithmWasStoredAreHS256(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            // The schema as it was before the algorithm column, with one key in it.
            switch kind {
            case .sqlite:
                let path = database.settings(file: "keys.sqlite").path
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let queue = try DatabaseQueue(path: path)
                try SQLiteKeyStore.migrator.migrate(queue, upTo: "2-clients")
                try await queue.write { db in
                    try db.execute(
                        sql: "INSERT INTO keys (kid, status, sealed_secret, created_at) VALUES ('k-old', 'current', X'00', 1)"
                    )
                }
            case .postgres:
                let pool = try database.postgresPool()
                try await pool.migrate(component: "keys", migrations: Array(PostgresKeyStore.migrations.prefix(2)))
                _ = try await pool.rows("INSERT INTO keys (kid, status, sealed_secret, created_at) VALUES ('k-old', 'current', '\\x00', 1)")
            }
            let snapshot = try await database.keyStore().snapshot()
            #expect(snapshot.keys.map(\.metadata.kid) == ["k-old"])
            #expect(snapshot.keys.map(\.metadata.algorithm) == [.hs256])
        }
    }

    @Test(arguments: StoreKind.tested)
    func theDatabaseRefusesAnUnknownAlgorithm(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            _ = try await database.keyStore()
            await #expect(throws: (any Error).self) {
                try await database.execute(
                    "INSERT INTO keys (kid, algorithm, status, sealed_secret, created_at) VALUES ('k-x', 'HS512', 'next', '', 1)",
                    sqliteFile: "keys.sqlite"
                )
            }
        }
    }
}
