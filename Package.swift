// swift-tools-version:6.1
// AuthStack: a self-hosted JWT authentication stack (identity, notes, key service, authctl).

import PackageDescription

/// Settings every target shares: Swift 6 language mode (strict concurrency) plus the upcoming features Hummingbird uses.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "authstack",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "identity-service", targets: ["IdentityService"]),
        .executable(name: "notes-service", targets: ["NotesService"]),
        .executable(name: "key-service", targets: ["KeyService"]),
        .executable(name: "authctl", targets: ["AuthCtl"]),
        .executable(name: "token-bench", targets: ["TokenBench"]),
        .library(name: "AuthStackCore", targets: ["AuthStackCore"]),
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
        // PostgreSQL storage for scaled deployments (DESIGN.md §7), selected by a `postgres://` database URL.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Test-only oracle: tokens must round-trip with an independent JOSE implementation.
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
    ],
    targets: [
        // MARK: Shared library (no HTTP server): tokens, keyring model, problem details, password hashing.
        .systemLibrary(name: "CCrypt", path: "Sources/CCrypt"),
        .target(
            name: "AuthStackCore",
            dependencies: [
                "CCrypt",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // MARK: Thin service support: middleware, health and metrics endpoints, configuration.
        .target(
            name: "AuthStackService",
            dependencies: [
                "AuthStackCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                // The pool, URL and migrations that both PostgreSQL stores share.
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // MARK: The four programs.
        .target(
            name: "IdentityServer",
            dependencies: [
                "AuthStackCore", "AuthStackService",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "IdentityService",
            dependencies: ["AuthStackService", "IdentityServer"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "NotesService",
            dependencies: [
                "AuthStackCore", "AuthStackService",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for the inline listing that writes JSON straight from column bytes.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "KeyService",
            dependencies: [
                "AuthStackCore", "AuthStackService",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "AuthCtl",
            dependencies: [
                "AuthStackCore", "AuthStackService", "IdentityServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                // The local gateway of `authctl up` (static web client + reverse proxy).
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // MARK: Benchmarks (run in release builds; never timed in `swift test`).
        .executableTarget(
            name: "TokenBench",
            dependencies: ["AuthStackCore", .product(name: "JWTKit", package: "jwt-kit")],
            path: "Benchmarks/TokenBench",
            swiftSettings: swiftSettings
        ),
        // MARK: Tests mirror the targets.
        .testTarget(
            name: "AuthStackCoreTests",
            dependencies: ["AuthStackCore", .product(name: "JWTKit", package: "jwt-kit")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuthStackServiceTests",
            dependencies: [
                "AuthStackService",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServiceExecutablesTests",
            dependencies: [
                "AuthStackService", "IdentityServer", "NotesService", "KeyService", "AuthCtl",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
