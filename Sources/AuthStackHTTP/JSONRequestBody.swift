import AuthStackCore
import Foundation
import Hummingbird

/// A JSON request body read under a size limit, with typed field access that collects every problem
/// (DESIGN.md §5: unknown fields are ignored; wrong types and missing fields are 400 `invalid_request` with an
/// `errors` array of `{field, message}`; bodies over the limit are 413).
public struct JSONRequestBody: Sendable {
    private let object: [String: JSONValue]
    /// Problems found so far; `validate()` throws them as one 400.
    public private(set) var errors: [ProblemDetails.FieldError] = []

    /// Reads the body. A missing `Content-Type` is taken as JSON (curl's `-d` habit aside, clients send it);
    /// another media type is 415. An empty body is `{}` when `allowEmpty`, else a 400.
    public static func read(_ request: Request, limit: Int, allowEmpty: Bool = false) async throws -> JSONRequestBody {
        if let type = request.headers[.contentType], !isJSON(type) {
            throw ProblemDetails(.unsupportedMediaType, detail: "Send the body as application/json.")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw ProblemDetails(.payloadTooLarge, detail: "The request body exceeds \(limit) bytes.")
        }
        let buffer = try await request.body.collect(upTo: limit)
        if buffer.readableBytes == 0 || buffer.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            guard allowEmpty else {
                throw ProblemDetails(.invalidRequest, detail: "The request needs a JSON body.",
                                     errors: [.init(field: "body", message: "a JSON object is required")])
            }
            return JSONRequestBody(object: [:])
        }
        let parsed: JSONValue
        do {
            parsed = try JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))
        } catch {
            throw ProblemDetails(.invalidRequest, detail: "The body is not valid JSON.", errors: [.init(field: "body", message: "invalid JSON")])
        }
        guard case .object(let object) = parsed else {
            throw ProblemDetails(.invalidRequest, detail: "The body must be a JSON object.",
                                 errors: [.init(field: "body", message: "must be a JSON object")])
        }
        return JSONRequestBody(object: object)
    }

    init(object: [String: JSONValue]) { self.object = object }

    static func isJSON(_ contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }

    /// Any JSON value, keeping exactly the distinctions field validation needs.
    enum JSONValue: Decodable, Sendable {
        case null, bool(Bool), number(Double), string(String), array, object([String: JSONValue])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let value = try? container.decode(Bool.self) {
                self = .bool(value)
            } else if let value = try? container.decode(String.self) {
                self = .string(value)
            } else if let value = try? container.decode(Double.self) {
                self = .number(value)
            } else if let value = try? container.decode([String: JSONValue].self) {
                self = .object(value)
            } else {
                _ = try container.decode([JSONValue].self)
                self = .array
            }
        }
    }

    /// A required string member; records "is required" or "must be a string".
    public mutating func requiredString(_ field: String) -> String? {
        guard let value = object[field], !value.isNull else {
            errors.append(.init(field: field, message: "is required"))
            return nil
        }
        return string(field, value)
    }

    /// An optional string member: nil when absent or `null`; records "must be a string" for other types.
    public mutating func optionalString(_ field: String) -> String? {
        guard let value = object[field], !value.isNull else { return nil }
        return string(field, value)
    }

    private mutating func string(_ field: String, _ value: JSONValue) -> String? {
        guard case .string(let string) = value else {
            errors.append(.init(field: field, message: "must be a string"))
            return nil
        }
        return string
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
}

extension JSONRequestBody.JSONValue {
    var isNull: Bool { if case .null = self { true } else { false } }
}
