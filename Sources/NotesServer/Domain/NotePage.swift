import AuthStackCore

/// A position in one owner's notes, ordered by (`created_at`, `id`) descending: the last note of a page. The next
/// page holds the notes strictly after it in that order, so notes added or deleted between two requests neither
/// repeat nor skip a note that existed throughout (keyset pagination, never an offset).
struct NoteCursor: Sendable, Equatable {
    /// Version of the encoding; a cursor of another version is refused.
    static let version: UInt8 = 1
    /// Last representable time: 9999-12-31T23:59:59.999999Z.
    static let latestTime: Int64 = 253_402_300_799_999_999

    /// `created_at` of the last note of the page, in microseconds.
    var createdAt: Int64
    /// `id` of that note.
    var id: String

    /// The cursor just after `note`.
    init(after note: Note) {
        self.init(createdAt: note.createdAt, id: note.id)
    }

    /// The cursor just after the note created at `createdAt` with `id`.
    init(createdAt: Int64, id: String) {
        self.createdAt = createdAt
        self.id = id
    }

    /// Opaque to clients: base64url of one version byte, `created_at` as 8 bytes big-endian and the 16 random bytes
    /// of the id (34 characters). It names a position, not a grant: a crafted cursor can only start a listing of the
    /// caller's own notes somewhere, so it is not signed.
    var encoded: String {
        var bytes = [Self.version]
        bytes.reserveCapacity(25)
        withUnsafeBytes(of: createdAt.bigEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: NoteID.decode(id) ?? [])
        return Base64URL.encode(bytes)
    }

    /// Decodes a cursor this service made; nil for anything else.
    init?(encoded text: some StringProtocol) {
        guard text.utf8.count == 34, let bytes = Base64URL.decode(text), bytes.count == 25, bytes[0] == Self.version else { return nil }
        let time = bytes[1..<9].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        guard (0...Self.latestTime).contains(time) else { return nil }
        createdAt = time
        id = NoteID.encode(bytes: Array(bytes[9...]))
    }
}

/// A validated `GET /notes?limit=&cursor=`.
struct NotePageRequest: Sendable, Equatable {
    /// Notes per page when `limit` is not given.
    static let defaultLimit = 20
    /// Accepted values of `limit`.
    static let limits = 1...100

    /// Notes per page.
    var limit = defaultLimit
    /// Where the page starts; nil for the newest notes.
    var after: NoteCursor?

    /// An explicit request.
    init(limit: Int = defaultLimit, after: NoteCursor? = nil) {
        self.limit = limit
        self.after = after
    }

    /// The request the query parameters describe, or a 400 `invalid_request` naming each bad parameter. An empty value
    /// counts as absent, so `?cursor=` (a client passing on a null `next_cursor`) is the first page.
    init(limit limitText: Substring?, cursor cursorText: Substring?) throws(ProblemDetails) {
        var errors: [ProblemDetails.FieldError] = []
        if let limitText, !limitText.isEmpty {
            if let value = Self.decimal(limitText), Self.limits.contains(value) {
                limit = value
            } else {
                errors.append(.init(field: "limit", message: "must be an integer from \(Self.limits.lowerBound) to \(Self.limits.upperBound)"))
            }
        }
        if let cursorText, !cursorText.isEmpty {
            if let cursor = NoteCursor(encoded: cursorText) {
                after = cursor
            } else {
                errors.append(.init(field: "cursor", message: "is not a cursor from this service; use next_cursor as given"))
            }
        }
        guard errors.isEmpty else { throw NoteRules.invalid(errors, detail: "Some query parameters are invalid.") }
    }

    /// ASCII digits only (no sign, space or exponent), at most four of them.
    private static func decimal(_ text: Substring) -> Int? {
        guard text.utf8.count <= 4, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        return Int(text)
    }
}

/// One page of a listing, newest first.
struct NotePage: Sendable, Equatable {
    /// At most the requested number of notes.
    var notes: [Note]
    /// Where the next page starts; nil on the last page.
    var next: NoteCursor?

    /// The page of at most `limit` notes from `rows`, which a store fetched with `limit + 1` to learn whether more follow.
    init(rows: [Note], limit: Int) {
        if rows.count > limit {
            notes = Array(rows.prefix(limit))
            next = notes.last.map(NoteCursor.init(after:))
        } else {
            notes = rows
            next = nil
        }
    }
}
