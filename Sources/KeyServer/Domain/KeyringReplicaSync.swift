import AuthStackCore
import Logging
import ServiceLifecycle

/// Brings changes that other key-service replicas commit to this replica's long-pollers (docs/design.md §9: every
/// verifier holds a new keyring within 2 s of the rotation's answer).
///
/// It polls the stored keyring version every `interval` (default 250 ms) and publishes the keyring when the version
/// moved on. A poll was chosen over `LISTEN/NOTIFY` because it cannot miss a change: a notification sent while the
/// listening connection is being re-established is lost and needs a re-read anyway, while the poll's next read sees
/// every commit. It needs no connection held open for the process's lifetime and works through poolers in
/// transaction mode, where `LISTEN` does not. Its cost is one single-row primary-key read per replica per interval
/// (four a second); its delay is at most `interval` plus a query, which leaves most of the 2 s bound to the
/// verifiers' long-polls even on a loaded machine (measured here: 0.5 s polls gave up to 1.5 s end to end under load).
///
/// The same poll reads the clients' version: a client added, rotated or revoked on another replica is known here
/// within the same interval, and a revoked client's open long-polls here end then.
struct KeyringReplicaSync: Service {
    let manager: KeyManager
    let clients: ClientManager
    var interval: Duration = .milliseconds(250)
    let logger: Logger

    func run() async throws {
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            do {
                try await manager.adoptStoredChanges()
                try await clients.adoptStoredChanges()
                if failing { logger.info("keyring sync with the shared database resumed") }
                failing = false
            } catch {
                // Once per outage, not twice a second.
                if !failing { logger.error("keyring sync with the shared database failed", metadata: ["error_type": "\(type(of: error))"]) }
                failing = true
            }
        }
    }
}
