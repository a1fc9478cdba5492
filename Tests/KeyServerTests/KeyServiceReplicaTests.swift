import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import AuthStackTestSupport
import Foundation
import Testing

@testable import IdentityServer
@testable import KeyServer

/// Several key-service replicas on one PostgreSQL database (docs/design.md §7, §9): they migrate once, every rotation or
/// revocation happens exactly once whichever replicas race, and a change made through one replica reaches the
/// others' long-polls within the 2 s propagation bound.
@Suite(.enabled(if: !TestPostgres.optedOut, "AUTHSTACK_TEST_POSTGRES=off"), .timeLimit(.minutes(2)))
struct KeyServiceReplicaTests {
    let policy = KeyLifecyclePolicy()

    @Test func replicasStartingTogetherMigrateOnceAndCreateOneKeyring() async throws {
        let policy = self.policy
        try await TestDatabase.with(.postgres) { database in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask { _ = try await database.keyReplica(sealer: TestKeys.sealer, policy: policy) { TestKeys.t0 } }
                    group.addTask {
                        // Identity migrates the same database at the same time: each component's migrations run once.
                        var identity = IdentityConfiguration()
                        identity.database = database.settings(file: "identity.sqlite")
                        _ = database.adopt(try await identity.openStore(logger: TestDatabase.logger))
                    }
                }
                try await group.waitForAll()
            }
            let applied = try await database.postgresRowsAsText("(SELECT component, version FROM authstack_schema_migrations ORDER BY 1, 2)")
            #expect(applied == "(identity,1)(keys,1)(keys,2)(keys,3)")
            let snapshot = try await database.keyStore().snapshot()
            #expect(snapshot.version == 1, "the first replica created the keys, the others found them")
            #expect(snapshot.keys.map(\.metadata.status).sorted { $0.rawValue < $1.rawValue } == [.current, .next])
        }
    }

    @Test func aRotationThroughOneReplicaWakesTheOthersLongPoll() async throws {
        let policy = self.policy
        try await TestDatabase.with(.postgres) { database in
            let clock = TestClock(TestKeys.t0)
            let first = try await database.keyReplica(sealer: TestKeys.sealer, policy: policy) { clock.now }
            let second = try await database.keyReplica(sealer: TestKeys.sealer, policy: policy) { clock.now }
            let before = await second.publication.current
            let clients = try await ClientManager.start(store: second.store, seeds: [], clock: { clock.now }, logger: TestDatabase.logger)
            let sync = Task { try await KeyringReplicaSync(manager: second, clients: clients, logger: TestDatabase.logger).run() }
            defer { sync.cancel() }
            async let changed = second.publication.waitForChange(from: before.etag, timeout: .seconds(10))
            try await Task.sleep(for: .milliseconds(200))
            let rotated = try await first.rotate(force: true)
            let answered = ContinuousClock.now
            let seen = try #require(await changed, "the long-poll on the other replica answered before its timeout")
            let delay = ContinuousClock.now - answered
            #expect(seen.version == rotated.version)
            // The 2 s propagation bound is a measurement, made by `authctl drill` and scripts/scaled-topology.py on
            // release builds; here only the mechanism is asserted (pushed to the long-poll, not found at its timeout).
            print("[measure] rotation through one replica reached the other's long-poll after \(delay)")
        }
    }

    @Test func concurrentRotationsThroughTwoReplicasEachHappenOnce() async throws {
        let policy = self.policy
        try await TestDatabase.with(.postgres) { database in
            let clock = TestClock(TestKeys.t0)
            let replicas = [
                try await database.keyReplica(sealer: TestKeys.sealer, policy: policy) { clock.now },
                try await database.keyReplica(sealer: TestKeys.sealer, policy: policy) { clock.now },
            ]
            let start = try await replicas[0].metadata().version
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<10 { group.addTask { _ = try await replicas[index % 2].rotate(force: true) } }
                try await group.waitForAll()
            }
            let (version, keys) = try await replicas[1].metadata()
            #expect(version == start + 10, "ten rotations, ten versions")
            #expect(keys.count == 12, "each rotation created one next key")
            #expect(keys.filter { $0.activatedAt != nil }.count == 11, "each next key was promoted once, none twice")
            #expect(keys.filter { $0.status == .current }.count == 1)
            #expect(keys.filter { $0.status == .next }.count == 1)
            for replica in replicas { try await replica.adoptStoredChanges() }
            let published = [await replicas[0].publication.current, await replicas[1].publication.current]
            #expect(published[0] == published[1], "both replicas publish the same keyring")
        }
    }

    @Test func aDueRotationTickedByEveryReplicaHappensOnce() async throws {
        let policy = self.policy
        try await TestDatabase.with(.postgres) { database in
            let clock = TestClock(TestKeys.t0)
            var replicas: [KeyManager] = []
            for _ in 0..<3 { replicas.append(try await database.keyReplica(sealer: TestKeys.sealer, policy: policy) { clock.now }) }
            let start = try await replicas[0].metadata()
            clock.advance(policy.configuration.rotationInterval + 1)
            let schedulers = replicas
            try await withThrowingTaskGroup(of: Void.self) { group in
                for replica in schedulers {
                    for _ in 0..<3 { group.addTask { try await replica.tick() } }
                }
                try await group.waitForAll()
            }
            let after = try await replicas[0].metadata()
            #expect(after.version == start.version + 1, "one rotation for one due time, whoever ticked")
            #expect(after.keys.filter { $0.status == .previous }.count == 1)
        }
    }

    @Test func anUnreachableDatabaseStopsStartUpWithoutShowingThePassword() async throws {
        let url = try PostgresURL("postgres://keys:s3cret-pw@127.0.0.1:1/keys?sslmode=disable", variable: "KEYS_DATABASE_URL")
        let pool = PostgresConnectionPool(url: url, logger: TestDatabase.logger, acquireTimeout: .seconds(TestDatabase.acquireTimeout))
        let started = ContinuousClock.now
        do {
            try await pool.migrate(component: "keys", migrations: PostgresKeyStore.migrations, timeout: .seconds(2))
            Issue.record("migrating through a closed port succeeded")
        } catch let error as PostgresUnavailableError {
            #expect(error.description.hasPrefix("cannot use PostgreSQL at postgres://keys@127.0.0.1:1/keys"), "\(error)")
            #expect(!error.description.contains("s3cret-pw"))
        }
        #expect(ContinuousClock.now - started < .seconds(10), "retried until its timeout, not for ever")
        await pool.close()
    }

    @Test func aWrongPasswordStopsStartUpAtOnceInTheServersWords() async throws {
        try await TestDatabase.with(.postgres) { database in
            let real = try #require(database.url)
            var configuration = KeyServiceConfiguration()
            configuration.database.url = try PostgresURL(
                "postgres://\(real.username):not-the-password@\(real.host):\(real.port)/\(real.database)?sslmode=disable",
                variable: "KEYS_DATABASE_URL"
            )
            let started = ContinuousClock.now
            do {
                _ = try await configuration.openStore(logger: TestDatabase.logger)
                Issue.record("a wrong password was accepted")
            } catch let error as PostgresUnavailableError {
                #expect(error.description.contains("password authentication failed"), "\(error)")
                #expect(!error.description.contains("not-the-password"))
            }
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    @Test func aClientAddedOrRevokedThroughOneReplicaIsKnownToTheOtherAfterItsSync() async throws {
        let policy = self.policy
        try await TestDatabase.with(.postgres) { database in
            let clock = TestClock(TestKeys.t0)
            let first = try await database.keyReplica(sealer: TestKeys.sealer, policy: policy) { clock.now }
            let second = try await database.keyReplica(sealer: TestKeys.sealer, policy: policy) { clock.now }
            let firstClients = try await ClientManager.start(store: first.store, seeds: [], clock: { clock.now }, logger: TestDatabase.logger)
            let secondClients = try await ClientManager.start(store: second.store, seeds: [], clock: { clock.now }, logger: TestDatabase.logger)
            let sync = Task { try await KeyringReplicaSync(manager: second, clients: secondClients, logger: TestDatabase.logger).run() }
            defer { sync.cancel() }
            let (_, token) = try await firstClients.add(name: "billing", role: .verifier)
            #expect(secondClients.authenticate(token) == nil, "not before the other replica's sync")
            #expect(await eventually(within: .seconds(20)) { secondClients.authenticate(token) != nil }, "the sync brought the new client")
            // A long-poll waiting on the other replica ends when the client is revoked here.
            async let refused = secondClients.directory.untilRefused(token, now: clock.now)
            try await firstClients.revoke(name: "billing")
            #expect(await refused, "the other replica's wait on the revoked token ended")
            #expect(secondClients.authenticate(token) == nil)
        }
    }
}
