import AuthStackCore
import Foundation

/// The keyring as it is served: its JWK set body, version and ETag.
struct PublishedKeyring: Sendable, Equatable {
    /// Keyring version from storage.
    let version: Int
    /// `"v<version>"`, quoted as an HTTP entity tag.
    var etag: String { "\"v\(version)\"" }
    /// When the `current` key started signing (for the key-age metric).
    let currentKeyActivatedAt: Date?
    /// The JWK set document for signers, EdDSA private keys included (contains secrets: only for authenticated clients).
    let body: [UInt8]
    /// The same without EdDSA private keys, for verifiers and admins (HS256 secrets stay: verifying needs them).
    let publicBody: [UInt8]
}

/// Holds the published keyring and wakes long-polling clients when it changes (docs/design.md §5 `?wait=`).
actor KeyringPublication {
    private(set) var current: PublishedKeyring
    private var waiters: [UUID: CheckedContinuation<PublishedKeyring?, Never>] = [:]

    init(_ initial: PublishedKeyring) { current = initial }

    /// Replaces the keyring and answers every waiter at once. Only a newer version replaces it: a replica's store
    /// sync and this process's own commits may publish in any order, and the keyring must never step back.
    func publish(_ keyring: PublishedKeyring) {
        guard keyring.version > current.version else { return }
        current = keyring
        let waiting = waiters
        waiters = [:]
        for continuation in waiting.values { continuation.resume(returning: keyring) }
    }

    /// The keyring as soon as its ETag differs from `etag`, or `nil` when `timeout` passes first.
    func waitForChange(from etag: String, timeout: Duration) async -> PublishedKeyring? {
        if current.etag != etag { return current }
        let id = UUID()
        return await withTaskGroup(of: PublishedKeyring?.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await self.register(id, etag: etag)
                } onCancel: {
                    Task { await self.cancel(id) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                await self.cancel(id)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    private func register(_ id: UUID, etag: String) async -> PublishedKeyring? {
        await withCheckedContinuation { continuation in
            // A publish may have happened between the caller's check and this registration.
            guard current.etag == etag else { return continuation.resume(returning: current) }
            waiters[id] = continuation
        }
    }

    private func cancel(_ id: UUID) {
        waiters.removeValue(forKey: id)?.resume(returning: nil)
    }
}
