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
    /// What keys made from now on sign with (`KEYS_ALGORITHM`); existing keys keep their own.
    let algorithm: KeyAlgorithm
    let clock: @Sendable () -> Date

    /// Opens the store's keys (creating the first `current` and `next` on a fresh database) and publishes them.
    /// A wrong master key fails here, before the service listens.
    static func start(
        store: any KeyStore,
        sealer: KeySealer,
        policy: KeyLifecyclePolicy,
        algorithm: KeyAlgorithm = .hs256,
        clock: @escaping @Sendable () -> Date
    ) async throws
        -> KeyManager
    {
        let now = clock()
        let snapshot = try await store.transact(now: now, makeKey: makeKey(sealer, algorithm: algorithm, now: now)) {
            policy.scheduledTransitions(for: $0, now: now)
        }
        let published = try keyring(from: snapshot, sealer: sealer)
        return KeyManager(
            store: store,
            sealer: sealer,
            policy: policy,
            publication: KeyringPublication(published),
            algorithm: algorithm,
            clock: clock
        )
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
        let snapshot = try await store.transact(now: now, makeKey: Self.makeKey(sealer, algorithm: algorithm, now: now), decide: decide)
        await publication.publish(try Self.keyring(from: snapshot, sealer: sealer))
        return (snapshot.version, snapshot.keys.map(\.metadata))
    }

    /// A fresh key of `algorithm` with a never-reused kid (`k` + creation date + 48 random bits): 256 random bits that
    /// are the HS256 secret or the Ed25519 private key, sealed under the master key alike.
    static func makeKey(_ sealer: KeySealer, algorithm: KeyAlgorithm, now: Date) -> @Sendable () -> NewKey {
        let date = now.formatted(.iso8601.year().month().day().dateSeparator(.omitted))
        return {
            let kid = "k\(date)-\(Base64URL.encode(SecretBytes.random(count: 6).bytes))"
            let secret = algorithm == .edDSA ? EdDSAKey.generatePrivateKey() : SecretBytes.random(count: 32)
            return NewKey(kid: kid, algorithm: algorithm, sealedSecret: sealer.seal(secret, kid: kid))
        }
    }

    /// The distributable keyring of a snapshot: `next`, `current` and `previous` keys with their opened secrets (an
    /// EdDSA key's public key derived from its private key).
    static func keyring(from snapshot: KeyStoreSnapshot, sealer: KeySealer) throws -> PublishedKeyring {
        var keys: [KeyringKey] = []
        for stored in snapshot.keys {
            guard let status = stored.metadata.status.keyringStatus else { continue }
            let metadata = stored.metadata
            let secret: SecretBytes
            do {
                secret = try sealer.open(stored.sealedSecret, kid: metadata.kid)
            } catch {
                throw UnreadableKeyError(description: error.description)
            }
            var publicKey: [UInt8] = []
            if metadata.algorithm == .edDSA {
                guard let derived = EdDSAKey.publicKey(of: secret) else {
                    throw UnreadableKeyError(description: "key \(metadata.kid): the stored Ed25519 private key is not 32 bytes")
                }
                publicKey = derived
            }
            keys.append(
                KeyringKey(
                    kid: metadata.kid,
                    algorithm: metadata.algorithm,
                    secret: secret,
                    publicKey: publicKey,
                    status: status,
                    createdAt: metadata.createdAt,
                    activatedAt: metadata.activatedAt,
                    retireAt: metadata.retireAt
                )
            )
        }
        let keyring = try Keyring(version: snapshot.version, keys: keys)
        return PublishedKeyring(
            version: snapshot.version,
            currentKeyActivatedAt: keyring.currentKey.activatedAt,
            body: keyring.jwkSetJSON(),
            publicBody: keyring.jwkSetJSON(includingPrivateKeys: false)
        )
    }
}
