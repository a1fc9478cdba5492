import AuthStackCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Gives every request an id and writes one structured log line per request (docs/design.md §5 and §9).
///
/// `X-Request-ID` is echoed when the client sent a well-formed one (1–128 characters of `[A-Za-z0-9._:-]`, so it
/// cannot forge log structure), otherwise Hummingbird's generated id is used; it is set on the response and in the
/// logger metadata of every line logged for the request. The access line has method, route (the matched pattern,
/// never the raw path with its ids), status and duration. Query strings and headers are never logged.
public struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The response and log field name.
    public static var headerName: HTTPField.Name { HTTPField.Name("X-Request-ID")! }

    /// The middleware.
    public init() {}

    /// Assigns the id, runs the chain, logs the outcome.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let requestID = Self.requestID(from: request.headers) ?? context.id
        context.logger[metadataKey: "request_id"] = .string(requestID)
        context.logger[metadataKey: JSONLogHandler.hummingbirdRequestID] = .string(requestID)
        let start = ContinuousClock.now
        var response = try await next(request, context)
        response.headers[Self.headerName] = requestID
        Self.logAccess(
            context.logger,
            requestID: nil,
            method: request.method,
            route: context.endpointPath ?? "unmatched",
            status: response.status,
            elapsed: ContinuousClock.now - start
        )
        return response
    }

    /// The client's `X-Request-ID` when it is well-formed.
    static func requestID(from fields: HTTPFields) -> String? {
        fields[headerName].flatMap { isWellFormed($0) ? $0 : nil }
    }

    /// The access line of one request; `requestID` is added to the metadata when `logger` does not carry it already.
    static func logAccess(
        _ logger: Logger,
        requestID: String?,
        method: HTTPRequest.Method,
        route: String,
        status: HTTPResponse.Status,
        elapsed: Duration
    ) {
        guard logger.logLevel <= .info else { return }
        var metadata: Logger.Metadata = [
            "method": .string(method.rawValue),
            "route": .string(route),
            "status": .stringConvertible(status.code),
            "duration_ms": .stringConvertible(durationMilliseconds(elapsed)),
        ]
        if let requestID {
            metadata["request_id"] = .string(requestID)
            metadata[JSONLogHandler.hummingbirdRequestID] = .string(requestID)
        }
        logger.info("request", metadata: metadata)
    }

    /// `elapsed` in milliseconds, to the microsecond: a JSON number in the access line.
    static func durationMilliseconds(_ elapsed: Duration) -> Double {
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        return (milliseconds * 1000).rounded() / 1000
    }

    static func isWellFormed(_ value: String) -> Bool {
        ASCIIIdentifier.isValid(value, maximumLength: 128, punctuation: "._:-")
    }
}
