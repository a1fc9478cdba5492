import AuthStackCore
import AuthStackHTTP

/// What a request body said about one string member.
enum JSONStringMember: Equatable {
    /// Not in the object.
    case absent
    /// A string, unescaped.
    case string(String)
    /// Present with another type, `null` included.
    case wrongType
}

/// The `title` and `body` members of a request body; every other member is ignored (docs/design.md §5.3). The body
/// itself (media type, size, strict JSON) is read by ``JSONRequestBody``.
struct NoteFields: Equatable {
    /// The `title` member.
    var title: JSONStringMember = .absent
    /// The `body` member.
    var body: JSONStringMember = .absent

    /// The two members of `request`'s body.
    init(_ request: JSONRequestBody) {
        title = JSONStringMember(request.member("title"))
        body = JSONStringMember(request.member("body"))
    }

    /// Explicit members.
    init(title: JSONStringMember = .absent, body: JSONStringMember = .absent) {
        self.title = title
        self.body = body
    }
}

extension JSONStringMember {
    /// A note field's view of a member: `null` is a wrong type like any non-string.
    init(_ member: JSONRequestBody.Member) {
        switch member {
        case .absent: self = .absent
        case .string(let string): self = .string(string)
        case .null, .other: self = .wrongType
        }
    }
}

/// The rules a note's fields follow (docs/design.md §5), checked the same way on create and update.
enum NoteRules {
    /// Longest title, in Unicode code points (not bytes, not grapheme clusters).
    static let maximumTitleLength = 200
    /// Longest body, in bytes of UTF-8 (64 KiB).
    static let maximumBodyBytes = 64 * 1024

    /// What is wrong with `title`, or nil.
    static func titleError(_ member: JSONStringMember, required: Bool) -> ProblemDetails.FieldError? {
        switch member {
        case .absent: return required ? .init(field: "title", message: "is required") : nil
        case .wrongType: return .init(field: "title", message: "must be a string")
        case .string(let title):
            if title.isEmpty { return .init(field: "title", message: "must not be empty") }
            if exceeds(title.unicodeScalars, maximumTitleLength) {
                return .init(field: "title", message: "must be at most \(maximumTitleLength) Unicode code points")
            }
            if title.utf8.contains(0) { return .init(field: "title", message: "must not contain U+0000") }
            return nil
        }
    }

    /// What is wrong with `body`, or nil; a body may always be absent.
    static func bodyError(_ member: JSONStringMember) -> ProblemDetails.FieldError? {
        switch member {
        case .absent: return nil
        case .wrongType: return .init(field: "body", message: "must be a string")
        case .string(let body):
            if body.utf8.count > maximumBodyBytes { return .init(field: "body", message: "must be at most \(maximumBodyBytes) bytes of UTF-8") }
            if body.utf8.contains(0) { return .init(field: "body", message: "must not contain U+0000") }
            return nil
        }
    }

    /// A 400 `invalid_request` listing `errors`.
    static func invalid(_ errors: [ProblemDetails.FieldError], detail: String = "Some fields of the request are invalid.") -> ProblemDetails {
        ProblemDetails(.invalidRequest, detail: detail, errors: errors)
    }

    /// `true` when `sequence` has more than `limit` elements, counting no further than `limit + 1`.
    private static func exceeds(_ sequence: some Sequence, _ limit: Int) -> Bool {
        var count = 0
        for _ in sequence {
            count += 1
            if count > limit { return true }
        }
        return false
    }
}

/// A valid new note: `POST /notes` `{title, body?}`.
struct NoteDraft: Sendable, Equatable {
    /// 1–200 code points.
    var title: String
    /// At most 64 KiB; `""` when none was sent.
    var body: String

    /// The draft `fields` describe, or a 400 `invalid_request` listing every invalid field.
    init(_ fields: NoteFields) throws(ProblemDetails) {
        let errors = [NoteRules.titleError(fields.title, required: true), NoteRules.bodyError(fields.body)].compactMap { $0 }
        guard errors.isEmpty, case .string(let title) = fields.title else { throw NoteRules.invalid(errors) }
        self.title = title
        if case .string(let body) = fields.body { self.body = body } else { self.body = "" }
    }

    /// An explicit draft, already valid.
    init(title: String, body: String = "") {
        self.title = title
        self.body = body
    }
}

/// A valid change: `PATCH /notes/{id}` `{title?, body?}`; absent members stay as they are.
struct NotePatch: Sendable, Equatable {
    /// The new title, if it changes.
    var title: String?
    /// The new body, if it changes.
    var body: String?

    /// The patch `fields` describe, or a 400 `invalid_request` listing every invalid field.
    init(_ fields: NoteFields) throws(ProblemDetails) {
        let errors = [NoteRules.titleError(fields.title, required: false), NoteRules.bodyError(fields.body)].compactMap { $0 }
        guard errors.isEmpty else { throw NoteRules.invalid(errors) }
        if case .string(let title) = fields.title { self.title = title }
        if case .string(let body) = fields.body { self.body = body }
    }

    /// An explicit patch.
    init(title: String? = nil, body: String? = nil) {
        self.title = title
        self.body = body
    }

    /// `note` with this patch applied at `now`, or nil when that changes nothing: a patch that sets no field or only
    /// the values the note already has leaves `updated_at` alone. `updated_at` never moves backwards.
    func applied(to note: Note, now: Int64) -> Note? {
        var changed = note
        if let title { changed.title = title }
        if let body { changed.body = body }
        // Byte comparison: Swift's `==` on strings is canonical equivalence, and a change from "é" (U+00E9) to "e\u{301}"
        // is a change of the stored text.
        guard !changed.title.utf8.elementsEqual(note.title.utf8) || !changed.body.utf8.elementsEqual(note.body.utf8) else { return nil }
        changed.updatedAt = max(now, note.updatedAt)
        return changed
    }
}
