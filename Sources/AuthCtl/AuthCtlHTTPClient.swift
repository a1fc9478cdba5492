import AsyncHTTPClient
import NIOCore

/// The one HTTP client authctl's commands use: it gives up connecting after 2 s (the shared one keeps retrying for
/// 10 s), never follows redirects (tokens must not travel elsewhere), and lives as long as the process.
let authctlHTTPClient = HTTPClient(
    eventLoopGroup: HTTPClient.defaultEventLoopGroup,
    configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(2)))
)
