// swift-tools-version:6.1
// AuthStack: a self-hosted JWT authentication stack (identity, notes, key service, authctl).
//
// The targets are the architecture (README "Architecture"): a library with no I/O (AuthStackCore), storage and HTTP
// support that every service shares (AuthStackStorage, AuthStackHTTP), one library per service with a thin
// executable beside it, and the admin CLI. Tests mirror the libraries one to one.

import PackageDescription

/// Settings every target shares: Swift 6 language mode (strict concurrency) plus the upcoming features Hummingbird uses.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let hummingbird: Target.Dependency = .product(name: "Hummingbird", package: "hummingbird")
let hummingbirdTesting: Target.Dependency = .product(name: "HummingbirdTesting", package: "hummingbird")
let grdb: Target.Dependency = .product(name: "GRDB", package: "GRDB.swift")
/// GRDB's SQLite module, which every importer of GRDB needs visible.
let grdbSQLite: Target.Dependency = .product(name: "GRDBSQLite", package: "GRDB.swift")
let postgres: Target.Dependency = .product(name: "PostgresNIO", package: "postgres-nio")
let httpClient: Target.Dependency = .product(name: "AsyncHTTPClient", package: "async-http-client")
let lifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")

let package = Package(
    name: "authstack",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "identity-service", targets: ["IdentityService"]),
        .executable(name: "notes-service", targets: ["NotesService"]),
        .executable(name: "key-service", targets: ["KeyService"]),
        .executable(name: "authctl", targets: ["AuthCtl"]),
        .executable(name: "token-bench", targets: ["TokenBench"]),
        .executable(name: "whoami-example", targets: ["WhoAmIExample"]),
        .library(name: "AuthStackCore", targets: ["AuthStackCore"]),
        // What a Swift service needs to accept AuthStack access tokens: the keyring follower, the verifier and a
        // Hummingbird middleware (docs/verifying-tokens.md).
        .library(name: "AuthStackVerifier", targets: ["AuthStackVerifier"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "4.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        // NIOHTTPTypes(HTTP1): the HTTP parts Hummingbird's channel pipeline carries (the request-body timeout handler,
        // the inline responder's pipeline).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // PostgreSQL storage for scaled deployments (docs/design.md §7), selected by a `postgres://` database URL.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Test-only oracle: tokens must round-trip with an independent JOSE implementation.
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
    ],
    targets: [
        // MARK: Shared libraries, bottom up.
        // No I/O: tokens, keyring model, problem details, strict JSON, configuration values.
        .target(
            name: "AuthStackCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // SQLite (GRDB) and PostgreSQL (postgres-nio) infrastructure, migrations, the database selection.
        .target(
            name: "AuthStackStorage",
            dependencies: ["AuthStackCore", grdb, grdbSQLite, postgres, lifecycle, .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // What every HTTP service shares: router assembly, middleware, problem responses, bearer authentication, the
        // inline responder, the launcher, operational routes, the keyring follower.
        .target(
            name: "AuthStackVerifier",
            dependencies: [
                "AuthStackCore",
                hummingbird, httpClient, lifecycle,
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AuthStackHTTP",
            dependencies: [
                "AuthStackCore", "AuthStackVerifier",
                hummingbird, httpClient, lifecycle,
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ],
            swiftSettings: swiftSettings
        ),
        // MARK: One library per service, and its thin executable.
        .systemLibrary(name: "CCrypt", path: "Sources/CCrypt"),
        .target(
            name: "IdentityServer",
            dependencies: [
                "AuthStackCore", "AuthStackStorage", "AuthStackHTTP", "CCrypt",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
                hummingbird, grdb, postgres,
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "IdentityService", dependencies: ["AuthStackHTTP", "IdentityServer"], swiftSettings: swiftSettings),
        .target(
            name: "NotesServer",
            dependencies: [
                "AuthStackCore", "AuthStackStorage", "AuthStackHTTP", "AuthStackVerifier",
                hummingbird, grdb, postgres, lifecycle,
                .product(name: "HummingbirdCore", package: "hummingbird"),
                // SQLite's C API, for the inline listing that writes JSON straight from column bytes.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "NotesService", dependencies: ["AuthStackHTTP", "AuthStackVerifier", "NotesServer"], swiftSettings: swiftSettings),
        .target(
            name: "KeyServer",
            dependencies: [
                "AuthStackCore", "AuthStackStorage", "AuthStackHTTP",
                .product(name: "Crypto", package: "swift-crypto"),
                hummingbird, grdb, postgres,
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "KeyService", dependencies: ["AuthStackHTTP", "KeyServer"], swiftSettings: swiftSettings),
        // MARK: The admin CLI.
        .executableTarget(
            name: "AuthCtl",
            dependencies: [
                "AuthStackCore", "AuthStackHTTP", "IdentityServer", "KeyServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                httpClient, hummingbird, lifecycle,
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // MARK: Benchmarks (run in release builds; never timed in `swift test`).
        // A service of a deployment's own, on the verifier product alone (docs/verifying-tokens.md).
        .executableTarget(
            name: "WhoAmIExample",
            dependencies: [
                "AuthStackCore", "AuthStackVerifier", hummingbird,
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Examples/WhoAmI",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "TokenBench",
            dependencies: ["AuthStackCore", .product(name: "JWTKit", package: "jwt-kit")],
            path: "Benchmarks/TokenBench",
            swiftSettings: swiftSettings
        ),
        // MARK: Tests mirror the libraries; AuthStackTestSupport is what several of them share.
        .target(
            name: "AuthStackTestSupport",
            dependencies: [
                "AuthStackCore", "AuthStackStorage", "AuthStackHTTP", "KeyServer",
                postgres, grdb, grdbSQLite, lifecycle, hummingbird, hummingbirdTesting, httpClient,
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            path: "Tests/AuthStackTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuthStackCoreTests",
            dependencies: ["AuthStackCore", "AuthStackTestSupport", .product(name: "JWTKit", package: "jwt-kit")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuthStackStorageTests",
            dependencies: ["AuthStackStorage", "AuthStackTestSupport", postgres, grdb],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuthStackVerifierTests",
            dependencies: ["AuthStackCore", "AuthStackVerifier", hummingbird, hummingbirdTesting],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuthStackHTTPTests",
            // AuthStackTestSupport: secrets for the key-service executable that ServiceExecutableTests runs.
            dependencies: [
                "AuthStackHTTP", "AuthStackVerifier", "AuthStackTestSupport", hummingbird, hummingbirdTesting, httpClient,
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IdentityServerTests",
            dependencies: [
                "IdentityServer", "KeyServer", "AuthStackTestSupport",
                hummingbird, hummingbirdTesting, httpClient, grdb, postgres,
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NotesServerTests",
            dependencies: ["NotesServer", "AuthStackTestSupport", hummingbird, hummingbirdTesting, grdb, postgres],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KeyServerTests",
            dependencies: [
                // IdentityServer: its migrations run beside the key service's on one shared database.
                "KeyServer", "IdentityServer", "AuthStackTestSupport",
                hummingbird, hummingbirdTesting, httpClient, grdb, postgres,
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuthCtlTests",
            dependencies: [
                "AuthCtl", "IdentityServer", "KeyServer", "AuthStackTestSupport",
                hummingbird, hummingbirdTesting, httpClient, grdb,
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
