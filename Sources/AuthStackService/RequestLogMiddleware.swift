import AuthStackCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Gives every request an id and writes one structured log line per request (DESIGN.md §5 and §9).
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
        let requestID = request.headers[Self.headerName].flatMap { Self.isWellFormed($0) ? $0 : nil } ?? context.id
        context.logger[metadataKey: "request_id"] = .string(requestID)
        context.logger[metadataKey: "hb.request.id"] = .string(requestID)
        let start = ContinuousClock.now
        var response = try await next(request, context)
        response.headers[Self.headerName] = requestID
        let elapsed = ContinuousClock.now - start
        context.logger.info(
            "request",
            metadata: [
                "method": .string(request.method.rawValue),
                "route": .string(context.endpointPath ?? "unmatched"),
                "status": .stringConvertible(response.status.code),
                "duration_ms": .string(String(format: "%.3f", Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)),
            ]
        )
        return response
    }

    static func isWellFormed(_ value: String) -> Bool {
        ASCIIIdentifier.isValid(value, maximumLength: 128, punctuation: "._:-")
    }
}
