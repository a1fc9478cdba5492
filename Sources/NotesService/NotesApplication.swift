import AuthStackService
import Hummingbird

/// Builds the notes-service application from its settings.
///
/// Today it serves the operational endpoints every AuthStack service has (`/healthz`, `/readyz`, `/metrics`) with
/// structured access logs, request ids and problem+json errors; its domain routes arrive with their own issues.
func buildNotesApplication(settings: ServiceSettings, runtime: ServiceRuntime) -> some ApplicationProtocol {
    runtime.makeApplication(router: runtime.makeRouter(context: BasicRequestContext.self), settings: settings, serverName: "notes-service")
}
