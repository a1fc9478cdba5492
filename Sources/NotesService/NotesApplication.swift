import AuthStackCore
import AuthStackService
import Foundation
import Hummingbird
import ServiceLifecycle

/// Builds the notes-service application: opens and migrates its database, then serves the notes API of DESIGN.md §5
/// behind bearer verification against `keyring`, plus the operational endpoints.
///
/// `/readyz` reports `database` and `keyring` (ready once a first keyring is held). `keyring` is any
/// ``KeyringSource``: `main` passes the ``KeyringFollower`` (and runs it as one of `services`), tests a fixed keyring
/// or a double. `now` is the clock for token checks and note timestamps.
func buildNotesApplication<Source: KeyringSource>(
    settings: ServiceSettings,
    configuration: NotesServiceConfiguration,
    runtime: ServiceRuntime,
    keyring: Source,
    services: [any Service] = [],
    now: @escaping @Sendable () -> Date = { Date() }
) async throws -> some ApplicationProtocol {
    let store = try await SQLiteNoteStore(path: configuration.databasePath)
    runtime.readiness.add("database") { await store.isReady() }
    runtime.readiness.add("keyring") { keyring.current() != nil }

    let router = runtime.makeRouter(context: BasicRequestContext.self, corsOrigins: settings.corsOrigins)
    let authenticator = BearerAuthenticator(
        realm: "notes", policy: configuration.tokenPolicy, keyring: keyring, now: { now().timeIntervalSince1970 })
    NotesRoutes(
        authenticator: authenticator, store: store, requestBody: JSONRequestBody(maximumBytes: configuration.maximumBodyBytes), now: now
    ).addRoutes(to: router)
    return runtime.makeApplication(router: router, settings: settings, serverName: "notes-service", services: services)
}
