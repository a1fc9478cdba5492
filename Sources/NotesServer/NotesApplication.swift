import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import AuthStackVerifier
import Foundation
import Hummingbird
import ServiceLifecycle

/// Builds the notes-service application: opens and migrates its database (SQLite, or PostgreSQL when
/// `configuration.database.url` is set), then serves the notes API of docs/design.md §5 behind bearer verification against
/// `keyring`, plus the operational endpoints.
///
/// `/readyz` reports `database` (a query answered, on either backend) and `keyring` (ready once a first keyring is
/// held). `keyring` is any ``KeyringSource``: `main` passes the ``KeyringFollower`` (and runs it as one of `services`),
/// tests a fixed keyring or a double. `now` is the clock for token checks and note timestamps. A PostgreSQL pool runs
/// as the first of the application's services, so it closes after the server drained.
public func buildNotesApplication<Source: KeyringSource>(
    settings: ServiceSettings,
    configuration: NotesServiceConfiguration,
    runtime: ServiceRuntime,
    keyring: Source,
    services: [any Service] = [],
    now: @escaping @Sendable () -> Date = { Date() }
) async throws -> some ApplicationProtocol {
    let storage = try await configuration.openStore(logger: runtime.logger)
    let store = storage.store
    runtime.readiness.add("database") { await store.isReady() }
    runtime.readiness.add("keyring") { keyring.current() != nil }

    let router = runtime.makeRouter(context: BasicRequestContext.self, corsOrigins: settings.corsOrigins, metrics: settings.metrics == nil)
    let authenticator = BearerAuthenticator(
        realm: "notes",
        policy: configuration.tokenPolicy,
        keyring: keyring,
        now: { now().timeIntervalSince1970 }
    )
    addNotesRoutes(
        to: router,
        store: store,
        authenticator: authenticator,
        maximumBodyBytes: configuration.maximumBodyBytes,
        now: now
    )
    // On SQLite, GET /notes is answered on the event loop (NotesInlineResponder); PostgreSQL reads are asynchronous.
    let inline = (configuration.inlineReads ? store as? SQLiteNoteStore : nil).map {
        NotesInlineResponder(authenticator: authenticator, store: $0)
    }
    return runtime.makeApplication(
        router: router,
        settings: settings,
        serverName: "notes-service",
        inline: inline,
        services: storage.services + services
    )
}

/// The routes over the opened store: `NotesRoutes` is generic over its store, which arrives here as `any NoteStore`.
private func addNotesRoutes<Source: KeyringSource, Store: NoteStore>(
    to router: ServiceRouter<BasicRequestContext>,
    store: Store,
    authenticator: BearerAuthenticator<Source>,
    maximumBodyBytes: Int,
    now: @escaping @Sendable () -> Date
) {
    NotesRoutes(authenticator: authenticator, store: store, maximumBodyBytes: maximumBodyBytes, now: now).addRoutes(to: router)
}
