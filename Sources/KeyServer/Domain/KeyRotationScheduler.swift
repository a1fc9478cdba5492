import AuthStackCore
import Logging
import ServiceLifecycle

/// Runs the lifecycle policy's scheduled step (retire, repair, rotate when due) every `checkInterval`, until graceful
/// shutdown. Errors are logged and retried at the next tick: a failed tick never stops the service.
struct KeyRotationScheduler: Service {
    let manager: KeyManager
    let checkInterval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: checkInterval) }
            } catch {
                return
            }
            do {
                try await manager.tick()
            } catch {
                logger.error("scheduled key maintenance failed", metadata: ["error_type": "\(type(of: error))"])
            }
        }
    }
}
