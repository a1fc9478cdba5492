import AuthStackCore
import AuthStackHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Prometheus

extension IdentityRoutes {
    // Signup and login (docs/design.md §5.2, §6).

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
        // Login does not re-check the sign-up alphabet (a name that could never have signed up fails with 401), but
        // a name of the wrong length or with U+0000 is not a name at all: refused like malformed JSON, before any
        // lookup, before the throttle counters (whose keys it would be: unbounded, or unstorable in PostgreSQL `text`)
        // and without a hash.
        if let username, let problem = Username.lengthProblem(with: username) { body.reject("username", problem) }
        if let username, username.utf8.contains(0) { body.reject("username", "must not contain U+0000") }
        try body.validate()
        guard let username, let password else { throw ProblemDetails(.invalidRequest, detail: "The request is invalid.") }
        try requireSigningKey()
        let accountKey = ThrottleKey.account(username)
        let addressKey = ThrottleKey.loginAddress(clientAddress(request, context))
        // Counted before the hash runs: a throttled account or address costs no hash, even with the right password.
        try await admitPasswordAttempt(accountKey: accountKey, addressKey: addressKey, detail: "Too many failed logins; retry later.") {
            metrics.login("throttled")
        }
        let user = try await store.user(usernameKey: Username.key(username))
        let verification = try await verifyPassword(
            password,
            against: user?.passwordHash,
            accountKey: accountKey,
            addressKey: addressKey,
            detail: "Too many logins at once; retry shortly."
        ) { metrics.login("overloaded") }
        guard let user, case .match(let needsRehash) = verification else {
            metrics.login("failure")
            throw ProblemDetails(.invalidCredentials, detail: "The username or password is wrong.")
        }
        try await store.recordLoginSuccess(accountKey: accountKey, addressKey: addressKey)
        if needsRehash { await rehash(user, password: password, logger: context.logger) }
        metrics.login("success")
        return try await startSession(for: user, request: request, status: .ok)
    }

    /// Counts a password check against the account's and the address's login limits before any hash runs; a spent
    /// limit is 429 with `Retry-After` (`throttled` runs first). Login and `POST /password` share the counters.
    func admitPasswordAttempt(accountKey: String, addressKey: String, detail: String, throttled: () -> Void = {}) async throws {
        if case .throttled(let retryAfter) = try await store.admitLogin(
            accountKey: accountKey,
            addressKey: addressKey,
            settings: configuration.throttle,
            now: clock()
        ) {
            throttled()
            throw ProblemDetails(.rateLimited, detail: detail, retryAfter: retryAfter)
        }
    }

    /// Checks `password` against `hash` (nil: an unknown user, who costs the same scrypt as a known one, docs/design.md
    /// §6), after ``admitPasswordAttempt(accountKey:addressKey:detail:throttled:)`` counted it. A hashing pool too busy
    /// to check it is 503 with `Retry-After`, and the attempt is refunded (`overloaded` runs first): no password was
    /// checked, so it must not count towards the account's or the address's lockout.
    func verifyPassword(
        _ password: String,
        against hash: String?,
        accountKey: String,
        addressKey: String,
        detail: String,
        overloaded: () -> Void = {}
    ) async throws -> PasswordVerification {
        do {
            guard let hash else { return try await passwords.verifyUnknownUser(password) }
            return try await passwords.verify(password, against: hash)
        } catch let PasswordHashingError.overloaded(retryAfter) {
            overloaded()
            try await store.refundLoginAttempt(accountKey: accountKey, addressKey: addressKey, settings: configuration.throttle)
            throw ProblemDetails(.serviceUnavailable, detail: detail, retryAfter: retryAfter)
        }
    }

    /// Replaces an imported bcrypt hash (or one with outdated scrypt parameters) after a successful login. A failure
    /// here must not fail the login: the old hash keeps working and the next login tries again.
    func rehash(_ user: UserRecord, password: String, logger: Logger) async {
        do {
            let upgraded = try await passwords.hash(password)
            try await store.replacePasswordHash(userID: user.id, old: user.passwordHash, new: upgraded)
            logger.info("password rehashed to scrypt", metadata: ["user_id": "\(user.id)"])
        } catch {
            logger.warning(
                "password rehash failed; will retry at the next login",
                metadata: ["user_id": "\(user.id)", "error_type": "\(type(of: error))"]
            )
        }
    }

    func hash(_ password: String) async throws -> String {
        do {
            return try await passwords.hash(password)
        } catch let PasswordHashingError.overloaded(retryAfter) {
            throw ProblemDetails(.serviceUnavailable, detail: "Too many signups at once; retry shortly.", retryAfter: retryAfter)
        }
    }

    func startSession(for user: UserRecord, request: Request, status: HTTPResponse.Status) async throws -> Response {
        let now = clock()
        let session = SessionRecord(
            id: RandomID.make("s_"),
            userID: user.id,
            generation: 0,
            createdAt: now,
            lastUsedAt: now,
            idleExpiresAt: now.addingTimeInterval(min(configuration.refresh.idleLifetime, configuration.refresh.absoluteLifetime)),
            absoluteExpiresAt: now.addingTimeInterval(configuration.refresh.absoluteLifetime),
            userAgent: request.headers[.userAgent].map { String($0.prefix(512)) }
        )
        let refreshToken = RefreshToken.generate()
        let accessToken = try signAccessToken(user: user, sessionID: session.id, now: now)
        try await store.createSession(session, firstToken: refreshToken)
        return tokenResponse(status: status, accessToken: accessToken, refreshToken: refreshToken, session: session, now: now)
    }
}
