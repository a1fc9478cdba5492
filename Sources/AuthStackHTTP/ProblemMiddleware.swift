import AuthStackCore
import Hummingbird
import Logging

/// A problem answered with extra headers (a cleared cookie, say).
public struct ProblemResponse: Error, Sendable {
    public let problem: ProblemDetails
    public let headers: HTTPFields

    public init(problem: ProblemDetails, headers: HTTPFields) {
        self.problem = problem
        self.headers = headers
    }
}

/// Turns every error into an RFC 9457 problem response, logging causes that are ours (5xx) without their values.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Where refusals for a database that cannot serve are counted, if anywhere.
    let metrics: HTTPMetrics?

    /// The middleware; with `metrics`, 503s for a database that cannot serve are counted by cause.
    public init(metrics: HTTPMetrics? = nil) { self.metrics = metrics }

    /// Runs the rest of the chain and converts any thrown error.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ProblemResponse {
            return error.problem.response(extraHeaders: error.headers)
        } catch {
            if let storage = error as? StorageUnavailable { metrics?.recordStorageRefusal(storage.cause) }
            let problem = ProblemDetails.from(error)
            // A 503 is an expected, designed answer (no keyring yet, hashing queue full); a 500 is a bug.
            if problem.status >= 500 && problem.status != 503 {
                context.logger.error("request failed", metadata: ["error_type": "\(type(of: error))"])
            }
            return problem.response()
        }
    }
}
