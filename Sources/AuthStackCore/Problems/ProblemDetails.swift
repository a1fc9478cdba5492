import Foundation

/// An RFC 9457 problem details body, as every AuthStack error is sent (`application/problem+json`).
///
/// `type` is a URN derived from the code (`urn:authstack:problem:<code>`): stable, and not a URL that pretends to
/// document something. `detail` is written for humans and never contains a secret, token, password or stack trace.
public struct ProblemDetails: Error, Sendable, Equatable, Codable {
    /// The media type of a problem body.
    public static let mediaType = "application/problem+json"

    /// One invalid field of a request (`invalid_request`).
    public struct FieldError: Sendable, Equatable, Codable {
        /// The JSON member or query parameter, e.g. `username`.
        public var field: String
        /// What is wrong with it.
        public var message: String

        /// A field error.
        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }
    }

    /// `urn:authstack:problem:<code>`.
    public var type: String
    /// The code's fixed title.
    public var title: String
    /// The HTTP status.
    public var status: Int
    /// What went wrong this time.
    public var detail: String
    /// The stable machine-readable code.
    public var code: ProblemCode
    /// Per-field errors, for `invalid_request`.
    public var errors: [FieldError]?
    /// Seconds after which a retry may succeed (sent as the `Retry-After` header, not in the body).
    public var retryAfter: Int?
    /// An RFC 6750 challenge for 401 responses (sent as `WWW-Authenticate`, not in the body).
    public var wwwAuthenticate: String?

    enum CodingKeys: String, CodingKey {
        case type, title, status, detail, code, errors
    }

    /// A problem for `code` with a detail message.
    public init(_ code: ProblemCode, detail: String, errors: [FieldError]? = nil, retryAfter: Int? = nil) {
        self.type = "urn:authstack:problem:\(code.rawValue)"
        self.title = code.title
        self.status = code.status
        self.detail = detail
        self.code = code
        self.errors = errors
        self.retryAfter = retryAfter
    }

    /// The JSON body.
    public func jsonBody() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data(#"{"code":"internal_error","status":500}"#.utf8)
    }
}
