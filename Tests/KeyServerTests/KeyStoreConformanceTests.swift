import AuthStackCore
import AuthStackTestSupport
import Foundation
import Synchronization
import Testing

@testable import KeyServer

/// New keys with predictable kids and random secrets, sealed like the service seals them.
enum TestKeys {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let sealer = try! KeySealer(masterKey: SecretBytes(Array(repeating: 9, count: 32)))

    static func maker(secrets: SecretLog = SecretLog(), algorithm: KeyAlgorithm = .hs256) -> @Sendable () -> NewKey {
        {
            let kid = "k-\(UUID().uuidString.prefix(8).lowercased())"
            let secret = SecretBytes.random(count: 32)
            secrets.record(secret)
            return NewKey(kid: kid, algorithm: algorithm, sealedSecret: sealer.seal(secret, kid: kid))
        }
    }
}

/// The ``KeyStore`` contract, the same cases on SQLite and PostgreSQL: atomic, versioned, durable, serialised,
/// secrets sealed at rest.
@Suite(.timeLimit(.minutes(2))) struct KeyStoreConformanceTests {
    let policy = KeyLifecyclePolicy()

    @Test(arguments: StoreKind.tested)
    func freshStoreIsEmptyAtVersionZero(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let store = try await database.keyStore()
            #expect(try await store.snapshot() == KeyStoreSnapshot(version: 0, keys: []))
            #expect(try await store.version() == 0)
        }
    }

    @Test(arguments: StoreKind.tested)
    func bootstrapPersistsAcrossReopening(kind: StoreKind) async throws {
        let policy = self.policy
        try await TestDatabase.with(kind) { database in
            let store = try await database.keyStore()
            let snapshot = try await store.transact(now: TestKeys.t0, makeKey: TestKeys.maker()) {
                policy.scheduledTransitions(for: $0, now: TestKeys.t0)
            }
            #expect(snapshot.version == 1)
            #expect(snapshot.keys.map(\.metadata.status).sorted { $0.rawValue < $1.rawValue } == [.current, .next])
            // Opening again runs the migrations again: they change nothing, and the keys are all there, dates exact.
            let reopened = try await database.keyStore()
            #expect(try await reopened.snapshot() == snapshot)
            #expect(try await reopened.version() == 1)
        }
    }

    @Test(arguments: StoreKind.tested)
    func secretsAreStoredSealedUnderTheirKid(kind: StoreKind) async throws {
        let policy = self.policy
        let secrets = SecretLog()
        try await TestDatabase.with(kind) { database in
            let store = try await database.keyStore()
            let snapshot = try await store.transact(now: TestKeys.t0, makeKey: TestKeys.maker(secrets: secrets)) {
                policy.scheduledTransitions(for: $0, now: TestKeys.t0)
            }
            let opened = try snapshot.keys.map { try TestKeys.sealer.open($0.sealedSecret, kid: $0.metadata.kid) }
            #expect(Set(opened.map(\.bytes)) == Set(secrets.all.map(\.bytes)))
            guard kind == .postgres else { return }  // SQLiteKeyStoreTests scans the database file itself.
            let stored = try await database.postgresRowsAsText("keys")
            #expect(stored.contains(snapshot.keys[0].metadata.kid))
            for secret in secrets.all {
                let hex = secret.bytes.map { String(format: "%02x", $0) }.joined()
                #expect(!stored.contains(hex), "a secret is stored in the clear")
            }
        }
    }

    @Test(arguments: StoreKind.tested)
    func refusedOperationChangesNothing(kind: StoreKind) async throws {
        let policy = self.policy
        try await TestDatabase.with(kind) { database in
            let store = try await database.keyStore()
            let maker = TestKeys.maker()
            let before = try await store.transact(now: TestKeys.t0, makeKey: maker) { policy.scheduledTransitions(for: $0, now: TestKeys.t0) }
            let soon = TestKeys.t0.addingTimeInterval(10)
            await #expect(throws: KeyLifecycleError.rotationTooSoon(retryAfter: 110)) {
                try await store.transact(now: soon, makeKey: maker) { try policy.rotation(for: $0, now: soon, force: false) }
            }
            #expect(try await store.snapshot() == before)
        }
    }

    @Test(arguments: StoreKind.tested)
    func tenConcurrentForcedRotationsApplyOneAtATime(kind: StoreKind) async throws {
        let policy = self.policy
        try await TestDatabase.with(kind) { database in
            let store = try await database.keyStore()
            let maker = TestKeys.maker()
            _ = try await store.transact(now: TestKeys.t0, makeKey: maker) { policy.scheduledTransitions(for: $0, now: TestKeys.t0) }
            let now = TestKeys.t0.addingTimeInterval(60)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<10 {
                    group.addTask { _ = try await store.transact(now: now, makeKey: maker) { try policy.rotation(for: $0, now: now, force: true) } }
                }
                try await group.waitForAll()
            }
            let snapshot = try await store.snapshot()
            #expect(snapshot.version == 11, "one version per rotation applied")
            #expect(snapshot.keys.count == 12, "each rotation created exactly one new next key")
            #expect(snapshot.keys.filter { $0.metadata.status == .current }.count == 1)
            #expect(snapshot.keys.filter { $0.metadata.status == .next }.count == 1)
            #expect(snapshot.keys.filter { $0.metadata.status == .previous }.count == 10)
            #expect(try await store.version() == 11)
        }
    }

    /// Keys created at the same time (the first pair) come in the same order on both backends — their kids byte by
    /// byte — even when PostgreSQL's default collation is not byte order.
    @Test(.enabled(if: !TestPostgres.optedOut, "AUTHSTACK_TEST_POSTGRES=off"))
    func bothBackendsListKeysCreatedTogetherInTheSameOrder() async throws {
        let policy = self.policy
        var listed: [StoreKind: [String]] = [:]
        for kind in StoreKind.allCases {
            listed[kind] = try await TestDatabase.with(kind, postgresOptions: TestPostgres.icuCollation) { database in
                let store = try await database.keyStore()
                let kids = Mutex(["k-a1", "k-B1"])  // the current key's, then the next key's
                let maker: @Sendable () -> NewKey = {
                    let kid = kids.withLock { $0.removeFirst() }
                    return NewKey(kid: kid, algorithm: .hs256, sealedSecret: TestKeys.sealer.seal(SecretBytes.random(count: 32), kid: kid))
                }
                let snapshot = try await store.transact(now: TestKeys.t0, makeKey: maker) { policy.scheduledTransitions(for: $0, now: TestKeys.t0) }
                #expect(try await store.snapshot() == snapshot)
                return snapshot.keys.map(\.metadata.kid)
            }
        }
        #expect(listed[.sqlite] == ["k-B1", "k-a1"])
        #expect(listed[.postgres] == listed[.sqlite])
    }

    @Test(arguments: StoreKind.tested)
    func revocationOfTheCurrentKeyRotatesFirstAndHappensOnce(kind: StoreKind) async throws {
        let policy = self.policy
        try await TestDatabase.with(kind) { database in
            let store = try await database.keyStore()
            let maker = TestKeys.maker()
            let start = try await store.transact(now: TestKeys.t0, makeKey: maker) { policy.scheduledTransitions(for: $0, now: TestKeys.t0) }
            let current = try #require(start.keys.first { $0.metadata.status == .current }).metadata.kid
            let now = TestKeys.t0.addingTimeInterval(5)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<5 {
                    group.addTask { _ = try await store.transact(now: now, makeKey: maker) { try policy.revocation(of: current, in: $0, now: now) } }
                }
                try await group.waitForAll()
            }
            let snapshot = try await store.snapshot()
            #expect(snapshot.version == 2, "the first revocation changed the keyring, the other four found nothing to do")
            #expect(snapshot.keys.first { $0.metadata.kid == current }?.metadata.status == .revoked)
            #expect(snapshot.keys.filter { $0.metadata.status == .current }.count == 1)
            #expect(snapshot.keys.filter { $0.metadata.status == .next }.count == 1)
        }
    }
}
