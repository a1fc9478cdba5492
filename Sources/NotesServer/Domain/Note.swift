import AuthStackCore

/// One user's note (docs/design.md §5), as stored and as answered.
struct Note: Sendable, Equatable {
    /// Opaque, unguessable, URL-safe: see ``NoteID``.
    var id: String
    /// 1–200 Unicode code points.
    var title: String
    /// At most 64 KiB of UTF-8; `""` when none was sent.
    var body: String
    /// Microseconds since the Unix epoch; unique and increasing per owner, so it orders notes (see ``creationTime(now:newestOfOwner:)``).
    var createdAt: Int64
    /// Microseconds since the Unix epoch; changes only when the title or body does.
    var updatedAt: Int64

    /// The creation time of a new note: the clock, unless the owner's newest note is as new or newer (two notes in one
    /// microsecond, or a clock that stepped back), in which case one microsecond after it. Creation times of one owner
    /// are therefore unique and strictly increasing, and "newest first" is exactly creation order.
    static func creationTime(now: Int64, newestOfOwner: Int64?) -> Int64 {
        guard let newest = newestOfOwner, newest >= now else { return now }
        return newest + 1
    }
}

/// Note ids: `n_` followed by 128 random bits in base64url (22 characters), e.g. `n_8yq3uAcKx2M0n1o9vWZr5Q`.
///
/// Random rather than sequential so that ids reveal neither how many notes exist nor when one was made, and cannot be
/// guessed; URL-safe so they go into paths unescaped.
enum NoteID {
    /// Marks a note id among the other ids of the stack.
    static let prefix = "n_"
    /// `n_` plus 22 characters.
    static let length = 24
    /// Random bytes in an id.
    static let randomByteCount = 16

    /// A fresh id from the system's cryptographically secure generator.
    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return encode(bytes: withUnsafeBytes(of: (high, low)) { Array($0) })
    }

    /// The id for 16 raw bytes.
    static func encode(bytes: [UInt8]) -> String {
        prefix + Base64URL.encode(bytes)
    }

    /// The 16 bytes behind a well-formed id, or nil for anything else (which is then simply not found).
    static func decode(_ id: some StringProtocol) -> [UInt8]? {
        guard id.utf8.count == length, id.hasPrefix(prefix) else { return nil }
        return Base64URL.decode(id.dropFirst(prefix.utf8.count))
    }
}
