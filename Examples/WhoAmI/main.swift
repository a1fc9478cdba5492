import AuthStackCore
import AuthStackVerifier
import Foundation
import Hummingbird
import Logging
import Prometheus

// whoami-example: a service of your own that accepts AuthStack access tokens (docs/verifying-tokens.md). It follows
// the key service's keyring with a client token of its own (`authctl clients add whoami --role verifier`) and answers
// GET /whoami with the verified claims; every check of docs/design.md §2.2 is made here, with no call to identity.
//
//   EXAMPLE_HOST (127.0.0.1), EXAMPLE_PORT (8084), EXAMPLE_KEYS_URL (http://127.0.0.1:8083),
//   EXAMPLE_KEYS_TOKEN_FILE (keys/whoami.token), EXAMPLE_KEYS_WAIT (30), EXAMPLE_ISSUER (authstack),
//   EXAMPLE_AUDIENCE (whoami: identity must list it in IDENTITY_AUDIENCES), EXAMPLE_LEEWAY (30)

func stop(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data("whoami-example: \(message)\n".utf8))
    exit(status)
}

let reader = ConfigurationReader(ProcessInfo.processInfo.environment)
let (host, port, keyring, policy): (String, Int, KeyringFollowerConfiguration, TokenVerificationPolicy)
do {
    host = try reader.text("EXAMPLE_HOST", default: "127.0.0.1")
    port = try reader.integer("EXAMPLE_PORT", default: 8084, in: 1...65535)
    keyring = try KeyringFollowerConfiguration(prefix: "EXAMPLE", client: "whoami", reader: reader)
    var tokens = TokenVerificationPolicy(issuer: try reader.name("EXAMPLE_ISSUER", default: "authstack"), audience: "whoami")
    tokens.audience = try reader.name("EXAMPLE_AUDIENCE", default: tokens.audience)
    tokens.leeway = try reader.seconds("EXAMPLE_LEEWAY", default: tokens.leeway, in: TokenVerificationPolicy.leewayRange)
    policy = tokens
} catch {
    stop("\(error)", status: 2)
}

let logger = Logger(label: "whoami-example")
let follower: KeyringFollower
do {
    follower = try KeyringFollower(configuration: keyring, registry: PrometheusCollectorRegistry(), logger: logger)
} catch {
    stop("cannot start: \(error)", status: 1)
}

/// What `GET /whoami` answers: who the verified token says the caller is.
struct WhoAmI: ResponseEncodable {
    let sub: String
    let username: String?
    let sid: String?
    let exp: Double
}

let router = Router(context: VerifiedRequestContext.self)
router.get("/healthz") { _, _ in "ok\n" }
router.get("/readyz") { _, _ in Response(status: follower.current() == nil ? .serviceUnavailable : .ok) }
router.group("/whoami")
    .add(middleware: AccessTokenMiddleware(authenticator: BearerAuthenticator(realm: "whoami", policy: policy, keyring: follower)))
    .get { _, context in
        let claims = try context.requireAccessToken()
        return WhoAmI(sub: claims.subject, username: claims.username, sid: claims.sessionID, exp: claims.expiresAt)
    }

// Under `authctl up --with-example`: stop gracefully when authctl does, even if it was killed (no orphan on the port).
if ProcessInfo.processInfo.environment["AUTHSTACK_EXIT_WITH_PARENT"] == "1" {
    let parent = getppid()
    Thread.detachNewThread {
        while getppid() == parent { sleep(1) }
        kill(getpid(), SIGTERM)
    }
}

let app = Application(
    router: router,
    configuration: .init(address: .hostname(host, port: port), serverName: "whoami-example"),
    services: [follower],
    logger: logger
)
do {
    try await app.runService()
} catch {
    stop("cannot serve on \(host):\(port): \(error)", status: 1)
}
