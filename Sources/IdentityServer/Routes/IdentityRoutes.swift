import AuthStackCore
import AuthStackHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Prometheus

/// The identity service's public API (docs/design.md §5 "Identity service", §3 refresh protocol, §6 abuse resistance).
struct IdentityRoutes<Source: KeyringSource>: Sendable {
    let configuration: IdentityConfiguration
    let store: any IdentityStore
    let passwords: PasswordHashingPool
    let keyring: Source
    let authenticator: BearerAuthenticator<Source>
    let addresses: ClientAddressResolver
    let origins: OriginCheck
    let metrics: IdentityMetrics
    let clock: @Sendable () -> Date

    init(
        configuration: IdentityConfiguration,
        store: any IdentityStore,
        passwords: PasswordHashingPool,
        keyring: Source,
        registry: PrometheusCollectorRegistry,
        corsOrigins: [String],
        clock: @escaping @Sendable () -> Date
    ) {
        self.configuration = configuration
        self.store = store
        self.passwords = passwords
        self.keyring = keyring
        self.authenticator = BearerAuthenticator(
            realm: "identity",
            policy: TokenVerificationPolicy(issuer: configuration.issuer, audience: configuration.audience, leeway: configuration.leeway),
            keyring: keyring,
            now: { clock().timeIntervalSince1970 }
        )
        self.addresses = ClientAddressResolver(trustedProxies: configuration.trustedProxies)
        self.origins = OriginCheck(allowList: Set(corsOrigins))
        self.metrics = IdentityMetrics(registry: registry)
        self.clock = clock
    }

    func addRoutes(to router: ServiceRouter<IdentityRequestContext>) {
        // The endpoints a browser's cookie or a cross-site form can drive check where the request came from first.
        router.post("/signup") { request, context in
            try sameOrigin(request, context)
            return try await signup(request, context)
        }
        router.post("/login") { request, context in
            try sameOrigin(request, context)
            return try await login(request, context)
        }
        router.post("/refresh") { request, context in
            try sameOrigin(request, context)
            return try await refresh(request, context)
        }
        router.post("/logout") { request, context in
            try sameOrigin(request, context)
            return try await logout(request)
        }
        router.post("/logout-all") { request, context in
            try sameOrigin(request, context)
            return try await logoutAll(request)
        }
        router.post("/password") { request, context in try await changePassword(request, context) }
        router.get("/me") { request, _ in try await me(request) }
        router.get("/sessions") { request, _ in try await sessions(request) }
        router.delete("/sessions/{id}") { request, context in try await deleteSession(request, id: try context.parameters.require("id")) }
    }

    /// 403 `origin_not_allowed` for a browser request from another origin (``OriginCheck``).
    func sameOrigin(_ request: Request, _ context: IdentityRequestContext) throws {
        let proxied = addresses.isTrustedProxy(peer: context.peerAddress, viaProxySocket: context.viaProxySocket)
        try origins.require(request, fromTrustedProxy: proxied)
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
