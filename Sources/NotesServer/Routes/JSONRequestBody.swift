import AuthStackCore
import Hummingbird
import NIOCore

/// How the notes service reads a request body: media type first, then size, then JSON.
///
/// - `Content-Type` must be `application/json` (any parameters, any case) or absent (curl `-d` without `-H` still
///   says `application/x-www-form-urlencoded`, so that one is refused rather than guessed at): anything else is 415
///   `unsupported_media_type`. JSON is UTF-8 by definition (RFC 8259 §8.1), so a `charset` parameter changes nothing
///   and the bytes must be valid UTF-8 whatever it says.
/// - A body over `maximumBytes` is 413 `payload_too_large`, refused from its `Content-Length` before any byte is
///   read, or once the limit is crossed for a chunked body.
struct JSONRequestBody: Sendable {
    /// Largest accepted body in bytes.
    let maximumBytes: Int

    /// The `title` and `body` members of the request's JSON body, or a 400, 413 or 415 problem.
    func noteFields(of request: Request) async throws -> NoteFields {
        guard Self.isJSON(request.headers[.contentType]) else {
            throw ProblemDetails(.unsupportedMediaType, detail: "Send the body as application/json.")
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maximumBytes {
            throw tooLarge
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumBytes)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
        return try buffer.withUnsafeReadableBytes { raw throws(ProblemDetails) in
            try NoteFields(json: raw.assumingMemoryBound(to: UInt8.self))
        }
    }

    private var tooLarge: ProblemDetails {
        ProblemDetails(.payloadTooLarge, detail: "The request body exceeds \(maximumBytes) bytes.")
    }

    /// `true` for no media type or `application/json` with any parameters (RFC 9110 §8.3.1: type and subtype are
    /// case-insensitive, whitespace may surround the `;`).
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return true }
        var mediaType = contentType.utf8.prefix { $0 != UInt8(ascii: ";") }[...]
        while let last = mediaType.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { mediaType = mediaType.dropLast() }
        while let first = mediaType.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { mediaType = mediaType.dropFirst() }
        return mediaType.elementsEqual("application/json".utf8) { byte, expected in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 == expected : byte == expected
        }
    }
}
