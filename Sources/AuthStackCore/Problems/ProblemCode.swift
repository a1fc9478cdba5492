/// Every stable machine-readable error code AuthStack answers with (docs/design.md §5), in one place.
///
/// The raw value is the `code` member of the problem+json body; clients switch on it, so a value never changes once
/// released. Each code has one HTTP status and one title.
public enum ProblemCode: String, Sendable, CaseIterable, Codable {
    // MARK: Any service
    /// 400: malformed JSON, wrong types, missing fields or invalid values; the body lists `errors`.
    case invalidRequest = "invalid_request"
    /// 404: no such route or resource.
    case notFound = "not_found"
    /// 405: the route exists but not with this method.
    case methodNotAllowed = "method_not_allowed"
    /// 408: the request body did not arrive within the service's body timeout; the connection is closed.
    case requestTimeout = "request_timeout"
    /// 413: the request body exceeds the service's limit.
    case payloadTooLarge = "payload_too_large"
    /// 415: the body is not `application/json`.
    case unsupportedMediaType = "unsupported_media_type"
    /// 429: too many attempts; `Retry-After` says when to try again.
    case rateLimited = "rate_limited"
    /// 503: the service is shedding load or not ready; `Retry-After` says when to try again.
    case serviceUnavailable = "service_unavailable"
    /// 500: a fault of ours; the detail never says more than that.
    case internalError = "internal_error"
    /// 502: a gateway could not reach the service behind it (`authctl up`'s local gateway).
    case badGateway = "bad_gateway"

    // MARK: Bearer tokens (identity and notes)
    /// 401: no bearer token was sent.
    case missingToken = "missing_token"
    /// 401: the bearer token failed verification.
    case invalidToken = "invalid_token"
    /// 401: the bearer token passed every check except `exp`: refresh and retry.
    case tokenExpired = "token_expired"

    // MARK: Identity
    /// 409: the username is taken (case-insensitively).
    case usernameTaken = "username_taken"
    /// 401: unknown user or wrong password (indistinguishable by design).
    case invalidCredentials = "invalid_credentials"
    /// 401: the refresh token is missing, unknown, expired or revoked.
    case invalidRefreshToken = "invalid_refresh_token"
    /// 401: a consumed refresh token was presented outside the grace window; the session is now revoked.
    case refreshTokenReused = "refresh_token_reused"
    /// 404: no live session of this user has that id.
    case sessionNotFound = "session_not_found"
    /// 403: a browser sent a cookie-endpoint request from a page of another origin (docs/security.md "Origin check").
    case originNotAllowed = "origin_not_allowed"

    // MARK: Notes
    /// 404: no note of this user has that id.
    case noteNotFound = "note_not_found"

    // MARK: Key service
    /// 401: no client token, or an unknown one.
    case unauthorized = "unauthorized"
    /// 403: the client's role does not allow this operation.
    case forbidden = "forbidden"
    /// 404: no key has that `kid`.
    case keyNotFound = "key_not_found"
    /// 409: the `next` key is younger than the publish lead; retry later or force.
    case rotationTooSoon = "rotation_too_soon"
    /// 409: the rotation would leave more than 32 keys verifying.
    case keyringFull = "keyring_full"
    /// 404: no active key-service client has that name.
    case clientNotFound = "client_not_found"
    /// 409: an active key-service client has that name.
    case clientExists = "client_exists"
    /// 409: the key service has as many active clients as it allows.
    case clientLimitReached = "client_limit_reached"
    /// 409: revoking this client would leave no admin.
    case lastAdmin = "last_admin"

    /// The HTTP status this code is always sent with.
    public var status: Int {
        switch self {
        case .invalidRequest: 400
        case .missingToken, .invalidToken, .tokenExpired, .invalidCredentials, .invalidRefreshToken, .refreshTokenReused, .unauthorized: 401
        case .forbidden, .originNotAllowed: 403
        case .notFound, .sessionNotFound, .noteNotFound, .keyNotFound, .clientNotFound: 404
        case .methodNotAllowed: 405
        case .requestTimeout: 408
        case .usernameTaken, .rotationTooSoon, .keyringFull, .clientExists, .clientLimitReached, .lastAdmin: 409
        case .payloadTooLarge: 413
        case .unsupportedMediaType: 415
        case .rateLimited: 429
        case .internalError: 500
        case .badGateway: 502
        case .serviceUnavailable: 503
        }
    }

    /// A short, human-readable summary that does not change from occurrence to occurrence (RFC 9457 §3.1.4).
    public var title: String {
        switch self {
        case .invalidRequest: "The request is invalid"
        case .notFound: "Not found"
        case .methodNotAllowed: "Method not allowed"
        case .requestTimeout: "The request took too long to arrive"
        case .payloadTooLarge: "The request body is too large"
        case .unsupportedMediaType: "The request body must be JSON"
        case .rateLimited: "Too many requests"
        case .serviceUnavailable: "The service is temporarily unavailable"
        case .internalError: "Internal error"
        case .badGateway: "The service behind the gateway is unreachable"
        case .missingToken: "An access token is required"
        case .invalidToken: "The access token is invalid"
        case .tokenExpired: "The access token has expired"
        case .usernameTaken: "The username is taken"
        case .invalidCredentials: "Invalid username or password"
        case .invalidRefreshToken: "The refresh token is invalid"
        case .refreshTokenReused: "The refresh token was already used"
        case .sessionNotFound: "Session not found"
        case .originNotAllowed: "The request's origin is not allowed"
        case .noteNotFound: "Note not found"
        case .unauthorized: "Client authentication is required"
        case .forbidden: "The client is not allowed to do this"
        case .keyNotFound: "Key not found"
        case .rotationTooSoon: "The next key has not been published long enough"
        case .keyringFull: "The keyring is full"
        case .clientNotFound: "Client not found"
        case .clientExists: "A client with this name exists"
        case .clientLimitReached: "The key service has as many clients as it allows"
        case .lastAdmin: "The last admin client cannot be revoked"
        }
    }
}
