import AuthStackCore
import Foundation
import Logging

/// A stored key could not be decrypted: wrong master key or altered data (stops start-up).
struct UnreadableKeyError: Error, Equatable, CustomStringConvertible {
    /// What the sealer reported (names the kid, never the secret).
    let description: String
}

/// The key service's domain: the lifecycle policy applied through the store, secrets opened with the master key,
/// and the resulting keyring published to long-polling clients.
struct KeyManager: Sendable {
    let store: any KeyStore
    let sealer: KeySealer
    let policy: KeyLifecyclePolicy
    let publication: KeyringPublication
    let clock: @Sendable () -> Date

    /// Opens the store's keys (creating the first `current` and `next` on a fresh database) and publishes them.
    /// A wrong master key fails here, before the service listens.
    static func start(
        store: any KeyStore,
        sealer: KeySealer,
        policy: KeyLifecyclePolicy,
        clock: @escaping @Sendable () -> Date
    ) async throws
        -> KeyManager
    {
        let now = clock()
        let snapshot = try await store.transact(now: now, makeKey: makeKey(sealer, now: now)) { policy.scheduledTransitions(for: $0, now: now) }
        let published = try keyring(from: snapshot, sealer: sealer)
        return KeyManager(store: store, sealer: sealer, policy: policy, publication: KeyringPublication(published), clock: clock)
    }

    /// The scheduler's step: retire, repair, rotate when due.
    func tick() async throws {
        let now = clock()
        let policy = self.policy
        try await commit(now: now) { policy.scheduledTransitions(for: $0, now: now) }
    }

    /// An admin rotation; returns the keys after it.
    func rotate(force: Bool) async throws -> (version: Int, keys: [KeyMetadata]) {
        let now = clock()
        let policy = self.policy
        return try await commit(now: now) { try policy.rotation(for: $0, now: now, force: force) }
    }

    /// An emergency revocation; returns the keys after it.
    func revoke(kid: String) async throws -> (version: Int, keys: [KeyMetadata]) {
        let now = clock()
        let policy = self.policy
        return try await commit(now: now) { try policy.revocation(of: kid, in: $0, now: now) }
    }

    /// Publishes what another replica committed since this one last published (a no-op when nothing changed).
    func adoptStoredChanges() async throws {
        let stored = try await store.version()
        guard stored > (await publication.current.version) else { return }
        await publication.publish(try Self.keyring(from: try await store.snapshot(), sealer: sealer))
    }

    /// All keys' metadata, including history (no secrets).
    func metadata() async throws -> (version: Int, keys: [KeyMetadata]) {
        let snapshot = try await store.snapshot()
        return (snapshot.version, snapshot.keys.map(\.metadata))
    }

    @discardableResult
    private func commit(
        now: Date,
        decide: @escaping @Sendable ([KeyMetadata]) throws -> [KeyTransition]
    ) async throws
        -> (version: Int, keys: [KeyMetadata])
    {
        let snapshot = try await store.transact(now: now, makeKey: Self.makeKey(sealer, now: now), decide: decide)
        await publication.publish(try Self.keyring(from: snapshot, sealer: sealer))
        return (snapshot.version, snapshot.keys.map(\.metadata))
    }

    /// A fresh 256-bit key with a never-reused kid: `k` + creation date + 48 random bits.
    static func makeKey(_ sealer: KeySealer, now: Date) -> @Sendable () -> (kid: String, sealedSecret: [UInt8]) {
        let date = now.formatted(.iso8601.year().month().day().dateSeparator(.omitted))
        return {
            let kid = "k\(date)-\(Base64URL.encode(SecretBytes.random(count: 6).bytes))"
            return (kid, sealer.seal(SecretBytes.random(count: 32), kid: kid))
        }
    }

    /// The distributable keyring of a snapshot: `next`, `current` and `previous` keys with their opened secrets.
    static func keyring(from snapshot: KeyStoreSnapshot, sealer: KeySealer) throws -> PublishedKeyring {
        var keys: [KeyringKey] = []
        for stored in snapshot.keys {
            guard let status = stored.metadata.status.keyringStatus else { continue }
            let secret: SecretBytes
            do {
                secret = try sealer.open(stored.sealedSecret, kid: stored.metadata.kid)
            } catch {
                throw UnreadableKeyError(description: error.description)
            }
            let metadata = stored.metadata
            keys.append(
                KeyringKey(
                    kid: metadata.kid,
                    secret: secret,
                    status: status,
                    createdAt: metadata.createdAt,
                    activatedAt: metadata.activatedAt,
                    retireAt: metadata.retireAt
                )
            )
        }
        let keyring = try Keyring(version: snapshot.version, keys: keys)
        return PublishedKeyring(version: snapshot.version, currentKeyActivatedAt: keyring.currentKey.activatedAt, body: keyring.jwkSetJSON())
    }
}
