import AuthStackCore
import AuthStackStorage

/// Where notes live. Every operation is scoped to one owner (the access token's `sub`): a note of another owner is
/// indistinguishable from a note that does not exist. Each call is one transaction, so no write is ever partial.
protocol NoteStore: Sendable {
    /// Stores a new note with `id`; its creation time is `now` or just after the owner's newest note
    /// (``Note/creationTime(now:newestOfOwner:)``).
    func create(_ draft: NoteDraft, id: String, owner: String, now: Int64) async throws -> Note

    /// The owner's note with `id`, if any.
    func note(id: String, owner: String) async throws -> Note?

    /// One page of the owner's notes, newest first.
    func page(owner: String, request: NotePageRequest) async throws -> NotePage

    /// Applies `patch` to the owner's note with `id`; nil when there is no such note. An empty patch returns the note
    /// as it is.
    func update(id: String, owner: String, patch: NotePatch, now: Int64) async throws -> Note?

    /// Deletes the owner's note with `id`; `false` when there was none.
    func delete(id: String, owner: String) async throws -> Bool

    /// `true` when the store answers queries (`/readyz`).
    func isReady() async -> Bool
}
