import AuthStackCore
import AuthStackStorage
import AuthStackTestSupport
import Foundation
import Testing

@testable import KeyServer

/// The client half of the ``KeyStore`` contract, the same cases on SQLite and PostgreSQL: versioned, atomic, durable,
/// tokens stored only as hashes.
@Suite(.timeLimit(.minutes(2))) struct ClientStoreConformanceTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000.123456)

    private func record(_ name: String, _ role: ClientRole = .verifier) -> ClientRecord {
        ClientRecord(name: name, role: role, tokenHash: ClientRecord.hash("ast_\(name)"), createdAt: now)
    }

    @Test(arguments: StoreKind.tested)
    func aFreshStoreHasNoClientsAtVersionZero(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let store = try await database.keyStore()
            #expect(try await store.clients() == ClientSnapshot(version: 0, clients: []))
            #expect(try await store.clientsVersion() == 0)
        }
    }

    @Test(arguments: StoreKind.tested)
    func writesBumpTheVersionAndSurviveReopeningExactly(kind: StoreKind) async throws {
        let now = self.now
        let billing = record("billing")
        let admin = record("admin", .admin)
        try await TestDatabase.with(kind) { database in
            let store = try await database.keyStore()
            let first = try await store.transactClients { _ in [billing, admin] }
            #expect(first == ClientSnapshot(version: 1, clients: [admin, billing]), "by name, one version for the whole write")
            var changed = try ClientPolicy.rotate(name: "billing", tokenHash: ClientRecord.hash("ast_new"), overlap: 60, in: first.clients, now: now)
            changed.lastSeenAt = now
            let rotated = changed
            let second = try await store.transactClients { _ in [rotated] }
            #expect(second.version == 2)
            #expect(second.clients == [admin, rotated], "replaced by name, every field as written, dates exact")
            // Nothing to write: no new version.
            #expect(try await store.transactClients { _ in [] }.version == 2)
            let reopened = try await database.keyStore()
            #expect(try await reopened.clients() == second)
            #expect(try await reopened.clientsVersion() == 2)
            // The keys' version is another counter.
            #expect(try await reopened.version() == 0)
        }
    }

    @Test(arguments: StoreKind.tested)
    func aRefusedDecisionWritesNothing(kind: StoreKind) async throws {
        let now = self.now
        let admin = record("admin", .admin)
        try await TestDatabase.with(kind) { database in
            let store = try await database.keyStore()
            _ = try await store.transactClients { _ in [admin] }
            await #expect(throws: ClientError.lastAdmin) {
                _ = try await store.transactClients { clients in [try ClientPolicy.revoke(name: "admin", in: clients, now: now)] }
            }
            #expect(try await store.clients() == ClientSnapshot(version: 1, clients: [admin]))
        }
    }

    @Test(arguments: StoreKind.tested)
    func lastSeenIsWrittenWithoutANewVersion(kind: StoreKind) async throws {
        let billing = record("billing")
        let seen = now.addingTimeInterval(90)
        try await TestDatabase.with(kind) { database in
            let store = try await database.keyStore()
            _ = try await store.transactClients { _ in [billing] }
            try await store.recordLastSeen(name: "billing", at: seen)
            try await store.recordLastSeen(name: "nobody", at: seen)
            let snapshot = try await store.clients()
            #expect(snapshot.version == 1)
            #expect(snapshot.clients.first?.lastSeenAt == seen)
        }
    }

    @Test(arguments: StoreKind.tested)
    func tokensAreStoredOnlyAsHashes(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let store = try await database.keyStore()
            let manager = try await ClientManager.start(store: store, seeds: [], clock: { Date() }, logger: TestDatabase.logger)
            let (_, token) = try await manager.add(name: "billing", role: .verifier)
            let stored: String
            switch kind {
            case .sqlite:
                // The database file and its write-ahead log, as bytes: the token is ASCII, so it would show as text.
                let path = database.settings(file: "keys.sqlite").path
                stored = [path, path + "-wal"].compactMap { FileManager.default.contents(atPath: $0) }
                    .map { String(decoding: $0, as: UTF8.self) }.joined()
            case .postgres:
                stored = try await database.postgresRowsAsText("clients")
            }
            #expect(stored.contains("billing"))
            #expect(!stored.contains(String(token.dropFirst(4))), "the token is not stored, only its SHA-256")
        }
    }

    @Test(arguments: StoreKind.tested)
    func concurrentAddsOfOneNameLetExactlyOneWin(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let managers = [
                try await ClientManager.start(store: try await database.keyStore(), seeds: [], clock: { Date() }, logger: TestDatabase.logger),
                try await ClientManager.start(store: try await database.keyStore(), seeds: [], clock: { Date() }, logger: TestDatabase.logger),
            ]
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        do {
                            _ = try await managers[index % 2].add(name: "billing", role: .verifier)
                            return true
                        } catch ClientError.exists {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
            #expect(try await database.keyStore().clients().clients.map(\.name) == ["billing"])
        }
    }

    @Test(arguments: StoreKind.tested)
    func seedsAreAddedOnceAndARevocationOutlivesThem(kind: StoreKind) async throws {
        let seeds = [ClientManager.Seed(name: "notes", role: .verifier, token: "ast_notes"), .init(name: "admin", role: .admin, token: "ast_admin")]
        try await TestDatabase.with(kind) { database in
            let first = try await ClientManager.start(
                store: try await database.keyStore(),
                seeds: seeds,
                clock: { Date() },
                logger: TestDatabase.logger
            )
            #expect(first.authenticate("ast_notes")?.role == .verifier)
            try await first.revoke(name: "notes")
            #expect(first.authenticate("ast_notes") == nil)
            // The next start reads the same token files: the revoked client stays revoked.
            let second = try await ClientManager.start(
                store: try await database.keyStore(),
                seeds: seeds,
                clock: { Date() },
                logger: TestDatabase.logger
            )
            #expect(second.authenticate("ast_notes") == nil)
            #expect(second.authenticate("ast_admin")?.name == "admin")
            #expect(try await database.keyStore().clientsVersion() == 2, "seeding once, revoking once; the second start wrote nothing")
        }
    }
}
