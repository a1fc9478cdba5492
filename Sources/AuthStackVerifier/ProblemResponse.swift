import AuthStackCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOHTTP1

extension ProblemDetails {
    /// The problem as an HTTP response: `application/problem+json`, `Cache-Control: no-store`, and `Retry-After` and
    /// `WWW-Authenticate` when the problem carries them.
    public func response(extraHeaders: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: ProblemDetails.mediaType, .cacheControl: "no-store"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if let wwwAuthenticate { headers[.wwwAuthenticate] = wwwAuthenticate }
        headers.append(contentsOf: extraHeaders)
        return Response(
            status: HTTPResponse.Status(code: status),
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: jsonBody()))
        )
    }

    /// The problem for an error thrown anywhere below the middleware: our own problems pass through, a database that
    /// cannot serve now is a 503 with `Retry-After`, Hummingbird's `HTTPError`s (unknown route, body too large, …) map
    /// to their codes, anything else is a 500 whose detail says nothing about the cause (the cause is logged instead).
    public static func from(_ error: any Error) -> ProblemDetails {
        switch error {
        case let problem as ProblemDetails:
            return problem
        case let storage as StorageUnavailable:
            return ProblemDetails(.serviceUnavailable, detail: storage.detail, retryAfter: storage.retryAfter)
        case let http as any HTTPResponseError:
            return from(status: http.status)
        case is HTTPParserError:
            // The request stopped being valid HTTP part-way, usually a body cut short: the client closed the connection
            // or the body timeout did. The client's fault, not ours (nobody may be left to read the answer).
            return ProblemDetails(.invalidRequest, detail: "The request is not valid HTTP or ended early.")
        default:
            return ProblemDetails(.internalError, detail: "The server could not complete the request.")
        }
    }

    /// The problem for a bare HTTP status.
    public static func from(status: HTTPResponse.Status) -> ProblemDetails {
        switch status.code {
        case 404: ProblemDetails(.notFound, detail: "No resource at this path.")
        case 405: ProblemDetails(.methodNotAllowed, detail: "This path does not accept that method.")
        case 413: ProblemDetails(.payloadTooLarge, detail: "The request body exceeds the size limit.")
        case 415: ProblemDetails(.unsupportedMediaType, detail: "Send the body as application/json.")
        case 429: ProblemDetails(.rateLimited, detail: "Too many requests.", retryAfter: 1)
        case 503: ProblemDetails(.serviceUnavailable, detail: "The service is temporarily unavailable.", retryAfter: 1)
        case 400..<500: ProblemDetails(.invalidRequest, detail: "The request is invalid.")
        default: ProblemDetails(.internalError, detail: "The server could not complete the request.")
        }
    }
}
