import AuthStackCore
import NIOCore

/// The JSON of note responses, written straight into the response's byte buffer: one allocation per response, no
/// intermediate strings or dictionaries, and string escaping that copies unescaped runs in one go.
///
/// (AuthStackCore's `JSONWriter` builds an `[UInt8]` for token segments and is internal to that module; responses
/// want a `ByteBuffer`, so this writer targets one directly.)
enum NoteJSON {
    /// `{"id":…,"title":…,"body":…,"created_at":…,"updated_at":…}`.
    static func note(_ note: Note) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: estimatedSize(of: note))
        write(note, into: &buffer)
        return buffer
    }

    /// `{"notes":[…],"next_cursor":"…"|null}`.
    static func page(_ page: NotePage) -> ByteBuffer {
        var writer = PageWriter(capacity: page.notes.reduce(64) { $0 + estimatedSize(of: $1) })
        for note in page.notes {
            var note = note
            note.id.withUTF8 { id in
                note.title.withUTF8 { title in
                    note.body.withUTF8 { body in writer.append(id: id, title: title, body: body, createdAt: note.createdAt, updatedAt: note.updatedAt)
                    }
                }
            }
        }
        return writer.finish(next: page.next)
    }

    /// A page's JSON written note by note from UTF-8 bytes: what ``page(_:)`` writes from a ``NotePage``, and what the
    /// inline listing writes straight from SQLite's column bytes (``SQLiteNoteStore/pageJSONNow(owner:request:)``), so
    /// both produce the same bytes.
    struct PageWriter {
        private var buffer: ByteBuffer
        private var count = 0

        init(capacity: Int) {
            buffer = ByteBufferAllocator().buffer(capacity: capacity)
            buffer.writeStaticString(#"{"notes":["#)
        }

        /// One note; `id` is written as it is (ids are base64url with a prefix: nothing to escape).
        mutating func append(
            id: UnsafeBufferPointer<UInt8>,
            title: UnsafeBufferPointer<UInt8>,
            body: UnsafeBufferPointer<UInt8>,
            createdAt: Int64,
            updatedAt: Int64
        ) {
            if count > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            count += 1
            buffer.writeStaticString(#"{"id":""#)
            buffer.writeBytes(UnsafeRawBufferPointer(id))
            buffer.writeStaticString(#"","title":"#)
            NoteJSON.writeString(utf8: title, into: &buffer)
            buffer.writeStaticString(#","body":"#)
            NoteJSON.writeString(utf8: body, into: &buffer)
            buffer.writeStaticString(#","created_at":"#)
            writeTimestamp(createdAt, into: &buffer)
            buffer.writeStaticString(#","updated_at":"#)
            writeTimestamp(updatedAt, into: &buffer)
            buffer.writeInteger(UInt8(ascii: "}"))
        }

        /// Closes the list with `next_cursor`.
        consuming func finish(next: NoteCursor?) -> ByteBuffer {
            buffer.writeStaticString(#"],"next_cursor":"#)
            if let next {
                // Cursors are base64url: nothing to escape.
                buffer.writeInteger(UInt8(ascii: "\""))
                buffer.writeString(next.encoded)
                buffer.writeInteger(UInt8(ascii: "\""))
            } else {
                buffer.writeStaticString("null")
            }
            buffer.writeInteger(UInt8(ascii: "}"))
            return buffer
        }
    }

    /// Unescaped size plus room for a few escapes; the buffer grows if a note needs more.
    private static func estimatedSize(of note: Note) -> Int {
        let text = note.title.utf8.count + note.body.utf8.count
        return 100 + NoteID.length + 2 * RFC3339Timestamp.length + text + text / 16
    }

    private static func write(_ note: Note, into buffer: inout ByteBuffer) {
        // Ids are base64url with a prefix: nothing to escape.
        buffer.writeStaticString(#"{"id":""#)
        buffer.writeString(note.id)
        buffer.writeStaticString(#"","title":"#)
        writeString(note.title, into: &buffer)
        buffer.writeStaticString(#","body":"#)
        writeString(note.body, into: &buffer)
        buffer.writeStaticString(#","created_at":"#)
        writeTimestamp(note.createdAt, into: &buffer)
        buffer.writeStaticString(#","updated_at":"#)
        writeTimestamp(note.updatedAt, into: &buffer)
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    private static func writeTimestamp(_ microseconds: Int64, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: RFC3339Timestamp.length) { output in
            RFC3339Timestamp.write(microseconds, into: output)
            return RFC3339Timestamp.length
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// A JSON string (RFC 8259 §7): `"` and `\` escaped, control characters as `\u00XX` (or their short forms), all
    /// other text as its UTF-8 bytes.
    static func writeString(_ string: String, into buffer: inout ByteBuffer) {
        var string = string
        string.withUTF8 { writeString(utf8: $0, into: &buffer) }
    }

    /// ``writeString(_:into:)`` for text that is already UTF-8 bytes.
    static func writeString(utf8 bytes: UnsafeBufferPointer<UInt8>, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        var runStart = 0
        for index in bytes.indices {
            let byte = bytes[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            if runStart < index { buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[runStart..<index]))) }
            writeEscape(byte, into: &buffer)
            runStart = index + 1
        }
        if runStart < bytes.count { buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[runStart...]))) }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    private static func writeEscape(_ byte: UInt8, into buffer: inout ByteBuffer) {
        switch byte {
        case UInt8(ascii: "\""): buffer.writeStaticString(#"\""#)
        case UInt8(ascii: "\\"): buffer.writeStaticString(#"\\"#)
        case 0x0A: buffer.writeStaticString(#"\n"#)
        case 0x0D: buffer.writeStaticString(#"\r"#)
        case 0x09: buffer.writeStaticString(#"\t"#)
        default:
            let hex: StaticString = "0123456789abcdef"
            buffer.writeStaticString(#"\u00"#)
            buffer.writeInteger(hex.utf8Start[Int(byte >> 4)])
            buffer.writeInteger(hex.utf8Start[Int(byte & 0x0F)])
        }
    }
}
