import AuthStackCore
import Foundation
import Logging

/// The key service's clients as data (docs/design.md §5.4): added, rotated and revoked through the admin API, stored
/// hashed beside the keys, and held in memory by every replica (``ClientDirectory``).
struct ClientManager: Sendable {
    let store: any KeyStore
    let directory: ClientDirectory
    let clock: @Sendable () -> Date
    let logger: Logger

    /// A client `authctl init` created a token file for, added once: a client of that name already stored (active,
    /// or revoked) is left as it is.
    struct Seed: Sendable {
        let name: String
        let role: ClientRole
        let token: String
    }

    /// Adds the `seeds` not yet stored, then loads every client.
    static func start(store: any KeyStore, seeds: [Seed], clock: @escaping @Sendable () -> Date, logger: Logger) async throws -> ClientManager {
        let now = clock()
        let snapshot = try await store.transactClients { stored in
            seeds.filter { seed in !stored.contains { $0.name == seed.name } }.map {
                ClientRecord(name: $0.name, role: $0.role, tokenHash: ClientRecord.hash($0.token), createdAt: now)
            }
        }
        return ClientManager(store: store, directory: ClientDirectory(snapshot), clock: clock, logger: logger)
    }

    /// The client a bearer token belongs to, from memory; its "last seen" is written in the background, at most once
    /// a minute, and never holds up the caller (the keyring is served while the database is away).
    func authenticate(_ token: String) -> ClientRecord? {
        let now = clock()
        guard let client = directory.authenticate(token, now: now) else { return nil }
        if directory.lastSeenDue(client.name, now: now) {
            let store = self.store
            Task { try? await store.recordLastSeen(name: client.name, at: now) }
        }
        return client
    }

    /// A new client; its token is returned here and nowhere else.
    func add(name: String, role: ClientRole) async throws -> (client: ClientRecord, token: String) {
        let token = ClientRecord.newToken()
        let hash = ClientRecord.hash(token)
        let now = clock()
        let client = try await commit { clients in [try ClientPolicy.add(name: name, role: role, tokenHash: hash, to: clients, now: now)] }
        logger.notice("key-service client added", metadata: ["client": "\(name)", "role": "\(role.rawValue)"])
        return (try Self.find(name, in: client), token)
    }

    /// A new token for `name`; the old one stays valid for `overlap` seconds.
    func rotate(name: String, overlap: TimeInterval) async throws -> (client: ClientRecord, token: String) {
        let token = ClientRecord.newToken()
        let hash = ClientRecord.hash(token)
        let now = clock()
        let clients = try await commit { clients in
            [try ClientPolicy.rotate(name: name, tokenHash: hash, overlap: overlap, in: clients, now: now)]
        }
        logger.notice("key-service client token rotated", metadata: ["client": "\(name)", "overlap_seconds": "\(Int(overlap))"])
        return (try Self.find(name, in: clients), token)
    }

    /// Revokes `name` at once: its next call is 401 and its open long-polls end.
    func revoke(name: String) async throws {
        let now = clock()
        _ = try await commit { clients in [try ClientPolicy.revoke(name: name, in: clients, now: now)] }
        logger.notice("key-service client revoked", metadata: ["client": "\(name)"])
    }

    /// Every client as stored now, tombstones included (for the admin listing: "last seen" is current there).
    func list() async throws -> ClientSnapshot { try await store.clients() }

    /// Takes what another replica committed (a no-op when nothing changed).
    func adoptStoredChanges() async throws {
        guard try await store.clientsVersion() > directory.version else { return }
        directory.replace(with: try await store.clients(), now: clock())
    }

    private func commit(_ decide: @escaping @Sendable ([ClientRecord]) throws -> [ClientRecord]) async throws -> [ClientRecord] {
        let snapshot = try await store.transactClients(decide)
        directory.replace(with: snapshot, now: clock())
        return snapshot.clients
    }

    private static func find(_ name: String, in clients: [ClientRecord]) throws -> ClientRecord {
        guard let client = clients.first(where: { $0.name == name }) else { throw ClientError.notFound }
        return client
    }
}
