import AuthStackCore
import AuthStackHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Prometheus

/// The identity service's public API (DESIGN.md §5 "Identity service", §3 refresh protocol, §6 abuse resistance).
struct IdentityRoutes<Source: KeyringSource>: Sendable {
    let configuration: IdentityConfiguration
    let store: any IdentityStore
    let passwords: PasswordHashingPool
    let keyring: Source
    let authenticator: BearerAuthenticator<Source>
    let addresses: ClientAddressResolver
    let metrics: IdentityMetrics
    let clock: @Sendable () -> Date

    init(configuration: IdentityConfiguration, store: any IdentityStore, passwords: PasswordHashingPool, keyring: Source,
         registry: PrometheusCollectorRegistry, clock: @escaping @Sendable () -> Date) {
        self.configuration = configuration
        self.store = store
        self.passwords = passwords
        self.keyring = keyring
        self.authenticator = BearerAuthenticator(
            realm: "identity",
            policy: TokenVerificationPolicy(issuer: configuration.issuer, audience: configuration.audience, leeway: configuration.leeway),
            keyring: keyring, now: { clock().timeIntervalSince1970 })
        self.addresses = ClientAddressResolver(trustedProxies: configuration.trustedProxies)
        self.metrics = IdentityMetrics(registry: registry)
        self.clock = clock
    }

    func addRoutes(to router: ServiceRouter<IdentityRequestContext>) {
        router.post("/signup") { request, context in try await signup(request, context) }
        router.post("/login") { request, context in try await login(request, context) }
        router.post("/refresh") { request, context in try await refresh(request, context) }
        router.post("/logout") { request, _ in await logout(request) }
        router.post("/logout-all") { request, _ in try await logoutAll(request) }
        router.get("/me") { request, _ in try await me(request) }
        router.get("/sessions") { request, _ in try await sessions(request) }
        router.delete("/sessions/{id}") { request, context in try await deleteSession(request, id: try context.parameters.require("id")) }
    }

    // MARK: Signup and login

    func signup(_ request: Request, _ context: IdentityRequestContext) async throws -> Response {
        let address = clientAddress(request, context)
        try await admit("signup:" + address, limit: configuration.throttle.signupsPerAddressPerMinute, window: 60)
        var body = try await JSONRequestBody.read(request, limit: configuration.maximumBodyBytes)
        let username = body.requiredString("username")
        let password = body.requiredString("password")
        if let username, let problem = Username.problem(with: username) { body.reject("username", problem) }
        if let password, let problem = Password.problem(with: password) { body.reject("password", problem) }
        try body.validate()
        guard let username, let password else { throw ProblemDetails(.invalidRequest, detail: "The request is invalid.") }
        try requireSigningKey()
        // Cheap check first so a taken name costs no hash; the unique index decides races.
        guard try await store.user(usernameKey: Username.key(username)) == nil else { throw usernameTaken() }
        let user = UserRecord(id: RandomID.make("u_"), username: username, passwordHash: try await hash(password), createdAt: clock())
        do {
            try await store.createUser(user)
        } catch IdentityStoreError.usernameTaken {
            throw usernameTaken()
        }
        metrics.signups.increment()
        context.logger.info("user signed up", metadata: ["user_id": "\(user.id)"])
        return try await startSession(for: user, request: request, status: .created)
    }

    func login(_ request: Request, _ context: IdentityRequestContext) async throws -> Response {
        var body = try await JSONRequestBody.read(request, limit: configuration.maximumBodyBytes)
        let username = body.requiredString("username")
        let password = body.requiredString("password")
        // Login does not re-check the sign-up rules (a name that could never have signed up fails with 401), but
        // U+0000 is not a name at all: refused like malformed JSON, before the throttle counters (PostgreSQL `text`,
        // where the account's counter is kept, cannot hold it) and without a hash.
        if let username, username.utf8.contains(0) { body.reject("username", "must not contain U+0000") }
        try body.validate()
        guard let username, let password else { throw ProblemDetails(.invalidRequest, detail: "The request is invalid.") }
        try requireSigningKey()
        let accountKey = "login-account:" + Username.key(username)
        let addressKey = "login-address:" + clientAddress(request, context)
        // Counted before the hash runs: a throttled account or address costs no hash, even with the right password.
        if case .throttled(let retryAfter) = try await store.admitLogin(
            accountKey: accountKey, addressKey: addressKey, settings: configuration.throttle, now: clock())
        {
            metrics.login("throttled")
            throw ProblemDetails(.rateLimited, detail: "Too many failed logins; retry later.", retryAfter: retryAfter)
        }
        let verification: PasswordVerification
        let user = try await store.user(usernameKey: Username.key(username))
        do {
            // Unknown users cost the same scrypt as known ones (DESIGN.md §6).
            if let user {
                verification = try await passwords.verify(password, against: user.passwordHash)
            } else {
                verification = try await passwords.verifyUnknownUser(password)
            }
        } catch let PasswordHashingError.overloaded(retryAfter) {
            metrics.login("overloaded")
            // No password was checked: the attempt must not count towards the account's or the address's lockout.
            try await store.refundLoginAttempt(accountKey: accountKey, addressKey: addressKey, settings: configuration.throttle)
            throw ProblemDetails(.serviceUnavailable, detail: "Too many logins at once; retry shortly.", retryAfter: retryAfter)
        }
        guard let user, case .match(let needsRehash) = verification else {
            metrics.login("failure")
            throw ProblemDetails(.invalidCredentials, detail: "The username or password is wrong.")
        }
        try await store.recordLoginSuccess(accountKey: accountKey, addressKey: addressKey)
        if needsRehash { await rehash(user, password: password, logger: context.logger) }
        metrics.login("success")
        return try await startSession(for: user, request: request, status: .ok)
    }

    /// Replaces an imported bcrypt hash (or one with outdated scrypt parameters) after a successful login. A failure
    /// here must not fail the login: the old hash keeps working and the next login tries again.
    private func rehash(_ user: UserRecord, password: String, logger: Logger) async {
        do {
            let upgraded = try await passwords.hash(password)
            try await store.replacePasswordHash(userID: user.id, old: user.passwordHash, new: upgraded)
            logger.info("password rehashed to scrypt", metadata: ["user_id": "\(user.id)"])
        } catch {
            logger.warning("password rehash failed; will retry at the next login", metadata: ["user_id": "\(user.id)", "error_type": "\(type(of: error))"])
        }
    }

    private func hash(_ password: String) async throws -> String {
        do {
            return try await passwords.hash(password)
        } catch let PasswordHashingError.overloaded(retryAfter) {
            throw ProblemDetails(.serviceUnavailable, detail: "Too many signups at once; retry shortly.", retryAfter: retryAfter)
        }
    }

    private func startSession(for user: UserRecord, request: Request, status: HTTPResponse.Status) async throws -> Response {
        let now = clock()
        let session = SessionRecord(
            id: RandomID.make("s_"), userID: user.id, generation: 0, createdAt: now, lastUsedAt: now,
            idleExpiresAt: now.addingTimeInterval(min(configuration.refresh.idleLifetime, configuration.refresh.absoluteLifetime)),
            absoluteExpiresAt: now.addingTimeInterval(configuration.refresh.absoluteLifetime),
            userAgent: request.headers[.userAgent].map { String($0.prefix(512)) })
        let refreshToken = RefreshToken.generate()
        let accessToken = try signAccessToken(user: user, sessionID: session.id, now: now)
        try await store.createSession(session, firstToken: refreshToken)
        return tokenResponse(status: status, accessToken: accessToken, refreshToken: refreshToken, session: session, now: now)
    }

    // MARK: Refresh and logout

    func refresh(_ request: Request, _ context: IdentityRequestContext) async throws -> Response {
        var body = try await JSONRequestBody.read(request, limit: configuration.maximumBodyBytes, allowEmpty: true)
        let fromBody = body.optionalString("refresh_token")
        try body.validate()
        guard let text = fromBody ?? request.cookies["refresh_token"]?.value, let token = RefreshToken(presented: text) else {
            throw invalidRefreshToken()
        }
        try requireSigningKey()
        let now = clock()
        // The per-address limit is checked by the store before the token is looked at (in the same transaction on
        // SQLite); a refused refresh consumes nothing. Malformed requests are refused above without touching it.
        let admission = RefreshAdmission(
            key: "refresh:" + clientAddress(request, context), limit: configuration.throttle.refreshesPerAddressPerMinute, window: 60)
        switch try await store.refresh(token, admission: admission, now: now, settings: configuration.refresh) {
        case .throttled(let retryAfter):
            metrics.refreshes("throttled")
            throw ProblemDetails(.rateLimited, detail: "Too many requests from this address; retry later.", retryAfter: retryAfter)
        case .issued(let successor, let session, let user, let replayed):
            if replayed { metrics.refreshes("replayed") } else { metrics.refreshes("rotated") }
            let accessToken = try signAccessToken(user: user, sessionID: session.id, now: now)
            return tokenResponse(status: .ok, accessToken: accessToken, refreshToken: successor, session: session, now: now)
        case .reused(let sessionID):
            metrics.refreshes("reused")
            context.logger.warning("refresh token reused; session revoked", metadata: ["session_id": "\(sessionID)"])
            throw ProblemResponse(
                problem: ProblemDetails(.refreshTokenReused, detail: "This refresh token was already used; the session is revoked. Log in again."),
                headers: [.setCookie: clearedCookie])
        case .invalid:
            metrics.refreshes("invalid")
            throw invalidRefreshToken()
        }
    }

    /// Always 204 and a cleared cookie: logging out twice, or with a token that is gone, is not an error.
    func logout(_ request: Request) async -> Response {
        var text: String? = nil
        if var body = try? await JSONRequestBody.read(request, limit: configuration.maximumBodyBytes, allowEmpty: true) {
            text = body.optionalString("refresh_token")
        }
        if let token = (text ?? request.cookies["refresh_token"]?.value).flatMap(RefreshToken.init(presented:)) {
            _ = try? await store.revokeSession(of: token, now: clock())
        }
        return Response(status: .noContent, headers: [.setCookie: clearedCookie, .cacheControl: "no-store"])
    }

    func logoutAll(_ request: Request) async throws -> Response {
        let claims = try await authenticator.authenticate(request)
        _ = try await store.revokeAllSessions(userID: claims.subject, now: clock())
        return Response(status: .noContent, headers: [.setCookie: clearedCookie, .cacheControl: "no-store"])
    }

    // MARK: Account and sessions

    func me(_ request: Request) async throws -> Response {
        let claims = try await authenticator.authenticate(request)
        guard let user = try await store.user(id: claims.subject) else { throw unknownSubject() }
        return try json(.ok, MeBody(id: user.id, username: user.username, createdAt: user.createdAt))
    }

    func sessions(_ request: Request) async throws -> Response {
        let claims = try await authenticator.authenticate(request)
        let sessions = try await store.liveSessions(userID: claims.subject, now: clock())
        return try json(.ok, SessionsBody(sessions: sessions.map {
            SessionsBody.Session(
                id: $0.id, createdAt: $0.createdAt, lastUsedAt: $0.lastUsedAt, expiresAt: $0.expiresAt, userAgent: $0.userAgent,
                current: $0.id == claims.sessionID)
        }))
    }

    func deleteSession(_ request: Request, id: String) async throws -> Response {
        let claims = try await authenticator.authenticate(request)
        guard try await store.revokeSession(id: id, userID: claims.subject, now: clock()) else {
            throw ProblemDetails(.sessionNotFound, detail: "You have no live session with this id.")
        }
        // Deleting the session this request belongs to is a logout: the browser's cookie goes too.
        var headers: HTTPFields = [.cacheControl: "no-store"]
        if id == claims.sessionID { headers[.setCookie] = clearedCookie }
        return Response(status: .noContent, headers: headers)
    }

    // MARK: Helpers

    private func clientAddress(_ request: Request, _ context: IdentityRequestContext) -> String {
        addresses.clientAddress(peer: context.peerAddress, forwardedFor: request.headers[.xForwardedFor])
    }

    private func admit(_ key: String, limit: Int, window: Double) async throws {
        if case .throttled(let retryAfter) = try await store.admit(key, limit: limit, window: window, now: clock()) {
            throw ProblemDetails(.rateLimited, detail: "Too many requests from this address; retry later.", retryAfter: retryAfter)
        }
    }

    /// Identity cannot issue tokens before it holds a keyring: 503 before any write, so no user or session is left
    /// half-made.
    private func requireSigningKey() throws {
        guard keyring.current() != nil else {
            throw ProblemDetails(.serviceUnavailable, detail: "The service has no signing key yet; retry shortly.", retryAfter: 1)
        }
    }

    private func signAccessToken(user: UserRecord, sessionID: String, now: Date) throws -> String {
        guard let snapshot = keyring.current() else {
            throw ProblemDetails(.serviceUnavailable, detail: "The service has no signing key yet; retry shortly.", retryAfter: 1)
        }
        let signer = AccessTokenSigner(issuer: configuration.issuer, audience: configuration.audiences, timeToLive: configuration.accessTokenLifetime)
        return signer.sign(signer.claims(subject: user.id, username: user.username, sessionID: sessionID, now: now), with: snapshot.keyring.signingKey)
    }

    private func tokenResponse(status: HTTPResponse.Status, accessToken: String, refreshToken: RefreshToken, session: SessionRecord, now: Date) -> Response {
        let refreshExpiresIn = max(0, Int(session.expiresAt.timeIntervalSince(now).rounded(.down)))
        let body = TokenBody(
            accessToken: accessToken, tokenType: "Bearer", expiresIn: Int(configuration.accessTokenLifetime),
            refreshToken: refreshToken.value, refreshExpiresIn: refreshExpiresIn)
        var attributes = "refresh_token=\(refreshToken.value); Path=/; Max-Age=\(refreshExpiresIn); HttpOnly; SameSite=Strict"
        if configuration.cookieSecure { attributes += "; Secure" }
        return Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store", .setCookie: attributes],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try! Self.encoder.encode(body))))
    }

    private var clearedCookie: String {
        "refresh_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" + (configuration.cookieSecure ? "; Secure" : "")
    }

    private func json(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try Self.encoder.encode(value))))
    }

    private func usernameTaken() -> ProblemDetails {
        ProblemDetails(.usernameTaken, detail: "That username is taken.", errors: [.init(field: "username", message: "is taken")])
    }

    private func invalidRefreshToken() -> ProblemResponse {
        ProblemResponse(
            problem: ProblemDetails(.invalidRefreshToken, detail: "The refresh token is unknown, expired or revoked. Log in again."),
            headers: [.setCookie: clearedCookie])
    }

    private func unknownSubject() -> ProblemDetails {
        var problem = ProblemDetails(.invalidToken, detail: "The access token is not valid here.")
        problem.wwwAuthenticate = "Bearer realm=\"identity\", error=\"invalid_token\""
        return problem
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

struct TokenBody: Encodable {
    let accessToken: String
    let tokenType: String
    let expiresIn: Int
    let refreshToken: String
    let refreshExpiresIn: Int
}

struct MeBody: Encodable {
    let id: String
    let username: String
    let createdAt: Date
}

struct SessionsBody: Encodable {
    struct Session: Encodable {
        let id: String
        let createdAt: Date
        let lastUsedAt: Date
        let expiresAt: Date
        let userAgent: String?
        let current: Bool

        // user_agent is null, not absent, when none was sent.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(lastUsedAt, forKey: .lastUsedAt)
            try container.encode(expiresAt, forKey: .expiresAt)
            try container.encode(userAgent, forKey: .userAgent)
            try container.encode(current, forKey: .current)
        }

        enum CodingKeys: String, CodingKey { case id, createdAt, lastUsedAt, expiresAt, userAgent, current }
    }

    let sessions: [Session]
}

/// The identity service's own Prometheus series (DESIGN.md §9: logins by outcome, refresh reuse detections).
struct IdentityMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let signups: Counter

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        signups = registry.makeCounter(descriptor: MetricNameDescriptor(metricName: "identity_signups", unitName: "total", helpText: "Users created"))
    }

    func login(_ outcome: String) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "identity_logins", unitName: "total", helpText: "Login attempts by outcome: success, failure, throttled, overloaded"),
            labels: [("outcome", outcome)]
        ).increment()
    }

    func refreshes(_ outcome: String) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "identity_refreshes", unitName: "total",
                helpText: "Refreshes by outcome: rotated, replayed (grace-window retry), reused (session revoked), invalid"),
            labels: [("outcome", outcome)]
        ).increment()
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
