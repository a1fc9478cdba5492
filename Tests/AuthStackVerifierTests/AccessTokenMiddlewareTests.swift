import AuthStackCore
import AuthStackVerifier
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The verifier product's middleware (docs/verifying-tokens.md): the claims of a valid token reach the route; every
/// failure is the bearer authenticator's problem, and the route never runs.
@Suite struct AccessTokenMiddlewareTests {
    static let now: Double = 1_800_000_000
    static let key = KeyringKey(
        kid: "k1",
        secret: SecretBytes.random(count: 32),
        status: .current,
        createdAt: Date(timeIntervalSince1970: now - 100),
        activatedAt: Date(timeIntervalSince1970: now - 100)
    )

    static func keyring() throws -> Keyring {
        var next = KeyringKey(kid: "k2", secret: SecretBytes.random(count: 32), status: .next, createdAt: Date(timeIntervalSince1970: now))
        next.activatedAt = nil
        return try Keyring(version: 1, keys: [key, next])
    }

    static func token(audience: [String] = ["identity", "whoami"], issuedAt: Double = now) throws -> String {
        let signer = AccessTokenSigner(audience: audience)
        return signer.sign(
            signer.claims(subject: "user-1", username: "ada", sessionID: "s-1", now: Date(timeIntervalSince1970: issuedAt)),
            with: try HS256Key(kid: key.kid, secret: key.secret)
        )
    }

    /// A router whose `/whoami` is behind the middleware; `ran` counts the route's runs.
    static func application(keyring: Keyring?, ran: Counter) -> some ApplicationProtocol {
        let authenticator = BearerAuthenticator(
            realm: "whoami",
            policy: TokenVerificationPolicy(issuer: "authstack", audience: "whoami"),
            keyring: FixedKeyringSource(keyring)
        ) { now }
        let router = Router(context: VerifiedRequestContext.self)
        router.get("/healthz") { _, _ in "ok" }
        router.group("/whoami").add(middleware: AccessTokenMiddleware(authenticator: authenticator)).get { _, context in
            ran.increment()
            let claims = try context.requireAccessToken()
            return "\(claims.subject) \(claims.username ?? "-") \(claims.sessionID ?? "-")"
        }
        return Application(router: router)
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func increment() { lock.withLock { count += 1 } }
        var value: Int { lock.withLock { count } }
    }

    @Test func theClaimsOfAValidTokenReachTheRoute() async throws {
        let ran = Counter()
        try await Self.application(keyring: try Self.keyring(), ran: ran).test(.router) { client in
            try await client.execute(uri: "/whoami", method: .get, headers: [.authorization: "Bearer \(try Self.token())"]) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "user-1 ada s-1")
            }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok, "routes outside the group need no token") }
        }
        #expect(ran.value == 1)
    }

    @Test(
        arguments: [
            (nil, "missing_token", #"Bearer realm="whoami""#),
            ("Basic dXNlcjpwYXNz", "missing_token", #"Bearer realm="whoami""#),
            ("Bearer x.y.z", "invalid_token", #"Bearer realm="whoami", error="invalid_token""#),
            ("Bearer AUDIENCE", "invalid_token", #"Bearer realm="whoami", error="invalid_token""#),
            ("Bearer EXPIRED", "token_expired", #"Bearer realm="whoami", error="invalid_token""#),
        ] as [(String?, String, String)]
    )
    func anyOtherRequestIsRefusedWithTheProblemAndTheRouteNeverRuns(authorization: String?, code: String, challenge: String) async throws {
        let header = try authorization.map {
            $0.replacingOccurrences(of: "AUDIENCE", with: try Self.token(audience: ["identity", "notes"]))
                .replacingOccurrences(of: "EXPIRED", with: try Self.token(issuedAt: Self.now - 7_200))
        }
        let ran = Counter()
        try await Self.application(keyring: try Self.keyring(), ran: ran).test(.router) { client in
            let headers: HTTPFields = header.map { [.authorization: $0] } ?? [:]
            try await client.execute(uri: "/whoami", method: .get, headers: headers) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.headers[.wwwAuthenticate] == challenge)
                let body = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                #expect(body?["code"] as? String == code)
            }
        }
        #expect(ran.value == 0)
    }

    @Test func beforeTheFirstKeyringTheAnswerIs503WithRetryAfter() async throws {
        let ran = Counter()
        try await Self.application(keyring: nil, ran: ran).test(.router) { client in
            try await client.execute(uri: "/whoami", method: .get, headers: [.authorization: "Bearer \(try Self.token())"]) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
            }
        }
        #expect(ran.value == 0)
    }
}
