import AuthStackCore
import AuthStackHTTP
import AuthStackVerifier
import Foundation
import Hummingbird
import NIOCore

/// The notes API of docs/design.md §5: `GET/POST /notes`, `GET/PATCH/DELETE /notes/{id}`.
///
/// Every route runs behind the bearer check and receives the verified `sub` as the owner; handlers have no other way
/// to name an owner, so no route can forget isolation. Another owner's note is 404 `note_not_found` exactly like one
/// that does not exist. Request bodies are checked (media type, size, JSON, fields) before the note's existence.
struct NotesRoutes<Source: KeyringSource, Store: NoteStore>: Sendable {
    /// Verifies the access token of every request (realm `notes`).
    let authenticator: BearerAuthenticator<Source>
    /// Where the notes are.
    let store: Store
    /// The largest request body, in bytes (413 beyond).
    let maximumBodyBytes: Int
    /// The clock for `created_at` and `updated_at`.
    let now: @Sendable () -> Date

    /// Adds the five routes to `router`.
    func addRoutes<Context: RequestContext>(to router: ServiceRouter<Context>) {
        router.get("/notes", use: authenticated { request, _, owner in try await list(request, owner: owner) })
        router.post("/notes", use: authenticated { request, _, owner in try await create(request, owner: owner) })
        router.get("/notes/{id}", use: authenticated { _, context, owner in try await show(id(context), owner: owner) })
        router.patch("/notes/{id}", use: authenticated { request, context, owner in try await update(id(context), request, owner: owner) })
        router.delete("/notes/{id}", use: authenticated { _, context, owner in try await delete(id(context), owner: owner) })
    }

    /// A handler that runs only with a verified access token, and receives its subject.
    private func authenticated<Context: RequestContext>(
        _ handler: @escaping @Sendable (Request, Context, _ owner: String) async throws -> Response
    ) -> @Sendable (Request, Context) async throws -> Response {
        let authenticator = self.authenticator
        return { request, context in
            let claims = try await authenticator.authenticate(request)
            return try await handler(request, context, claims.subject)
        }
    }

    // MARK: Handlers

    private func list(_ request: Request, owner: String) async throws -> Response {
        let query = request.uri.queryParameters
        let page = try NotePageRequest(limit: query["limit"], cursor: query["cursor"])
        return Self.json(.ok, NoteJSON.page(try await store.page(owner: owner, request: page)))
    }

    private func create(_ request: Request, owner: String) async throws -> Response {
        let draft = try NoteDraft(try await fields(of: request))
        let note = try await store.create(draft, id: NoteID.generate(), owner: owner, now: microsecondsNow())
        var response = Self.json(.created, NoteJSON.note(note))
        response.headers[.location] = "/notes/" + note.id
        return response
    }

    private func show(_ id: String?, owner: String) async throws -> Response {
        guard let id, let note = try await store.note(id: id, owner: owner) else { throw Self.notFound }
        return Self.json(.ok, NoteJSON.note(note))
    }

    private func update(_ id: String?, _ request: Request, owner: String) async throws -> Response {
        let patch = try NotePatch(try await fields(of: request))
        guard let id, let note = try await store.update(id: id, owner: owner, patch: patch, now: microsecondsNow()) else { throw Self.notFound }
        return Self.json(.ok, NoteJSON.note(note))
    }

    /// The note fields of `request`'s JSON body, read by the one request-body reader.
    private func fields(of request: Request) async throws -> NoteFields {
        NoteFields(try await JSONRequestBody.read(request, limit: maximumBodyBytes))
    }

    private func delete(_ id: String?, owner: String) async throws -> Response {
        guard let id, try await store.delete(id: id, owner: owner) else { throw Self.notFound }
        return Response(status: .noContent, headers: NoteHeaders.noStore)
    }

    // MARK: Helpers

    /// The `{id}` path parameter when it is a well-formed note id; anything else cannot name a note and is answered
    /// 404 without a query.
    private func id(_ context: some RequestContext) -> String? {
        guard let id = context.parameters.get("id"), NoteID.decode(id) != nil else { return nil }
        return id
    }

    private func microsecondsNow() -> Int64 {
        Int64((now().timeIntervalSince1970 * 1_000_000).rounded(.down))
    }

    private static var notFound: ProblemDetails { ProblemDetails(.noteNotFound, detail: "No note with this id.") }

    private static func json(_ status: HTTPResponse.Status, _ body: ByteBuffer) -> Response {
        Response(status: status, headers: NoteHeaders.json, body: ResponseBody(byteBuffer: body))
    }
}

/// Response headers, built once (a generic type cannot hold static stored properties).
enum NoteHeaders {
    /// Notes are private: no cache may keep them.
    static let noStore: HTTPFields = [.cacheControl: "no-store"]
    static let json: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
}
