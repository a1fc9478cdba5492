import AuthStackCore
import AuthStackStorage
import Foundation

/// A key as the key service stores it: lifecycle metadata and the secret sealed under the master key.
struct StoredKey: Sendable, Equatable {
    /// Status and timestamps.
    var metadata: KeyMetadata
    /// `KeySealer` output: never the secret in the clear.
    var sealedSecret: [UInt8]
}

/// A key made for a transition: its kid, its algorithm (`KEYS_ALGORITHM` when it was made) and its sealed private part
/// (the HS256 secret or the Ed25519 private key).
struct NewKey: Sendable, Equatable {
    /// The new, never reused kid.
    var kid: String
    /// What the key signs with.
    var algorithm: KeyAlgorithm
    /// `KeySealer` output.
    var sealedSecret: [UInt8]
}

/// Every key, including history, and the keyring version they make.
struct KeyStoreSnapshot: Sendable, Equatable {
    /// Bumped by every change that alters the distributed keyring.
    var version: Int
    /// All keys, oldest first.
    var keys: [StoredKey]
}

/// The key service's storage port: ``SQLiteKeyStore`` embedded, ``PostgresKeyStore`` for replicas sharing a database.
///
/// `transact` is the only way to change keys: it reads the keys, lets `decide` (the lifecycle policy) choose the
/// transitions, applies them and bumps the version, all in one transaction, so a scheduled rotation and an admin
/// rotation can never both act on the same state.
protocol KeyStore: Sendable {
    /// The current keys and version.
    func snapshot() async throws -> KeyStoreSnapshot

    /// The keyring version alone: a cheap check whether another process changed the keys.
    func version() async throws -> Int

    /// Atomically decides and applies transitions at `now`; new keys come from `makeKey`.
    func transact(
        now: Date,
        makeKey: @escaping @Sendable () -> NewKey,
        decide: @escaping @Sendable ([KeyMetadata]) throws -> [KeyTransition]
    ) async throws -> KeyStoreSnapshot

    /// Every key-service client, revoked ones included, by name, and their version.
    func clients() async throws -> ClientSnapshot

    /// The clients' version alone: a cheap check whether another process changed them.
    func clientsVersion() async throws -> Int

    /// Atomically reads the clients, lets `decide` (``ClientPolicy``) return the records to write, writes them
    /// (replacing a stored client of the same name) and bumps the version if there were any.
    func transactClients(_ decide: @escaping @Sendable ([ClientRecord]) throws -> [ClientRecord]) async throws -> ClientSnapshot

    /// Writes when `name` last authenticated; the version stays (nothing a replica must act on).
    func recordLastSeen(name: String, at time: Date) async throws
}

extension KeyStore {
    /// The version from a full snapshot, for stores without a cheaper way.
    func version() async throws -> Int { try await snapshot().version }
}

extension KeyStoreSnapshot {
    /// Applies `transitions` to `keys` as ``KeyLifecyclePolicy/apply(_:to:now:newKeyID:)`` defines them, creating
    /// secrets for new keys; the storage adapters persist the difference.
    static func applying(
        _ transitions: [KeyTransition],
        to keys: [StoredKey],
        now: Date,
        makeKey: () -> NewKey
    ) -> [StoredKey] {
        var sealed = Dictionary(uniqueKeysWithValues: keys.map { ($0.metadata.kid, $0.sealedSecret) })
        var made: [String: KeyAlgorithm] = [:]
        let metadata = KeyLifecyclePolicy.apply(transitions, to: keys.map(\.metadata), now: now) {
            let key = makeKey()
            sealed[key.kid] = key.sealedSecret
            made[key.kid] = key.algorithm
            return key.kid
        }
        return metadata.map { metadata in
            var metadata = metadata
            if let algorithm = made[metadata.kid] { metadata.algorithm = algorithm }
            return StoredKey(metadata: metadata, sealedSecret: sealed[metadata.kid] ?? [])
        }
    }
}
