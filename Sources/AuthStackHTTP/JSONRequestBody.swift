import AuthStackCore
import Hummingbird
import NIOCore

/// The one reader of JSON request bodies, for every service (docs/design.md §5.1; the rule is in docs/decisions.md,
/// "One JSON request-body reader"): media type first, then size, then the JSON itself.
///
/// - `Content-Type` must be `application/json` (any parameters, any case), or absent when the body is empty. Anything
///   else is 415 `unsupported_media_type`: `application/*+json`, since no endpoint here takes another JSON media
///   type; a form-encoded body (what `curl -d` sends without `-H`), refused rather than guessed at; and a body with no
///   type at all, which a browser's `fetch` may send cross-site without a preflight (docs/security.md "Origin
///   check"). JSON is UTF-8 by definition (RFC 8259 §8.1), so a `charset` parameter changes nothing and the bytes
///   must be valid UTF-8.
/// - A body over the limit is 413 `payload_too_large`, refused from its `Content-Length` before any byte is read, or
///   once the limit is crossed for a chunked body.
/// - The body is parsed with the strict reader the token verifier uses (``StrictJSON``): RFC 8259 grammar, valid
///   UTF-8, no lone surrogates, at most 32 levels of nesting, and no member twice (which one would win is ambiguous,
///   so neither does). A body that is not such an object is 400 `invalid_request` with one error whose `field` is
///   `""`, the whole document (RFC 6901).
/// - Unknown members are ignored; wrong types and missing members are collected and thrown together as one 400.
public struct JSONRequestBody: Sendable {
    /// A member's value, as field validation sees it.
    public enum Member: Equatable, Sendable {
        /// Not in the object.
        case absent
        /// `null`.
        case null
        /// A string, unescaped.
        case string(String)
        /// A number, boolean, array or object.
        case other
    }

    private let members: [String: Member]
    /// Problems found so far; ``validate()`` throws them as one 400.
    public private(set) var errors: [ProblemDetails.FieldError] = []

    /// Reads `request`'s body under `limit` bytes. An empty body (or only white space) is `{}` when `allowEmpty`,
    /// else a 400.
    public static func read(_ request: Request, limit: Int, allowEmpty: Bool = false) async throws -> JSONRequestBody {
        guard isJSON(request.headers[.contentType]) else {
            throw ProblemDetails(.unsupportedMediaType, detail: "Send the body as application/json.")
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge(limit) }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge(limit)
        }
        if buffer.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            guard allowEmpty else { throw invalidDocument("The request needs a JSON body.", "a JSON object is required") }
            return JSONRequestBody(members: [:])
        }
        guard request.headers[.contentType] != nil else {
            throw ProblemDetails(.unsupportedMediaType, detail: "Send the body as application/json (a body needs a Content-Type).")
        }
        return try buffer.withUnsafeReadableBytes { raw throws(ProblemDetails) in
            try JSONRequestBody(json: raw.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// The members of the JSON object in `bytes`, or a 400 saying why it is not one.
    init(json bytes: UnsafeBufferPointer<UInt8>) throws(ProblemDetails) {
        var members: [String: Member] = [:]
        do throws(StrictJSON.Failure) {
            try StrictJSON.forEachMember(of: bytes) { name, value in
                let member: Member =
                    switch value {
                    case .string(let reference): .string(StrictJSON.string(of: reference, in: bytes))
                    case .null: .null
                    default: .other
                    }
                members[StrictJSON.string(of: name, in: bytes)] = member
            }
        } catch {
            throw Self.invalidDocument("The request body is not a valid JSON object.", Self.message(for: error))
        }
        self.init(members: members)
    }

    private init(members: [String: Member]) { self.members = members }

    /// `true` for no media type (the body must then be empty), or `application/json` with any parameters (RFC 9110 §8.3.1: type and subtype are
    /// case-insensitive, white space may surround the `;`).
    public static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return true }
        var mediaType = contentType.utf8.prefix { $0 != UInt8(ascii: ";") }[...]
        while let last = mediaType.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { mediaType = mediaType.dropLast() }
        while let first = mediaType.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { mediaType = mediaType.dropFirst() }
        return mediaType.elementsEqual("application/json".utf8) { byte, expected in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 == expected : byte == expected
        }
    }

    /// The member `name`, whatever its type.
    public func member(_ name: String) -> Member { members[name] ?? .absent }

    /// A required string member; records "is required" (absent or `null`) or "must be a string".
    public mutating func requiredString(_ field: String) -> String? {
        switch member(field) {
        case .absent, .null:
            errors.append(.init(field: field, message: "is required"))
            return nil
        case .string(let string): return string
        case .other:
            errors.append(.init(field: field, message: "must be a string"))
            return nil
        }
    }

    /// An optional string member: nil when absent or `null`; records "must be a string" for other types.
    public mutating func optionalString(_ field: String) -> String? {
        switch member(field) {
        case .absent, .null: return nil
        case .string(let string): return string
        case .other:
            errors.append(.init(field: field, message: "must be a string"))
            return nil
        }
    }

    /// Records a problem found by the caller's own validation.
    public mutating func reject(_ field: String, _ message: String) {
        errors.append(.init(field: field, message: message))
    }

    /// Throws every recorded problem as one 400 `invalid_request`.
    public func validate() throws(ProblemDetails) {
        guard errors.isEmpty else {
            throw ProblemDetails(.invalidRequest, detail: "The request is invalid; see errors.", errors: errors)
        }
    }

    private static func tooLarge(_ limit: Int) -> ProblemDetails {
        ProblemDetails(.payloadTooLarge, detail: "The request body exceeds \(limit) bytes.")
    }

    private static func invalidDocument(_ detail: String, _ message: String) -> ProblemDetails {
        ProblemDetails(.invalidRequest, detail: detail, errors: [.init(field: "", message: message)])
    }

    private static func message(for failure: StrictJSON.Failure) -> String {
        switch failure {
        case .syntax(let offset): "not valid JSON (at byte \(offset))"
        case .notAnObject: "must be a JSON object"
        case .duplicateMember: "has a member name more than once"
        case .tooDeep: "nests deeper than \(StrictJSON.maximumDepth) levels"
        case .invalidUnicode: "has invalid UTF-8 or a lone surrogate"
        }
    }
}
