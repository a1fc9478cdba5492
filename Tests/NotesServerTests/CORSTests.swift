import AuthStackCore
import AuthStackHTTP
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import NotesServer

/// Cross-origin browser access: exact origins with credentials, preflight, nothing for other origins.
@Suite struct CORSTests {
    static let app = "https://app.example.com"

    func notes() async throws -> some ApplicationProtocol {
        var settings = ServiceSettings(host: "127.0.0.1", port: 0)
        settings.corsOrigins = [Self.app]
        let fixture = NotesFixture()
        let clock = fixture.clock
        return try await buildNotesApplication(
            settings: settings,
            configuration: fixture.configuration,
            runtime: ServiceRuntime(name: "notes"),
            keyring: FixedKeyringSource(fixture.keyring),
            now: { clock.now }
        )
    }

    @Test func listedOriginsGetCredentialedCORSAndPreflight() async throws {
        let fixture = NotesFixture()
        try await notes().test(.router) { client in
            try await client.execute(
                uri: "/notes",
                method: .options,
                headers: [.origin: Self.app, .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "authorization, content-type"]
            ) { response in
                #expect(response.status == .noContent)
                #expect(response.headers[.accessControlAllowOrigin] == Self.app)
                #expect(response.headers[.accessControlAllowCredentials] == "true")
                #expect(response.headers[.accessControlAllowMethods]?.contains("PATCH") == true)
                #expect(response.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
            }
            try await client.execute(uri: "/notes", method: .get, headers: [.origin: Self.app, .authorization: "Bearer \(fixture.token())"]) {
                response in
                #expect(response.status == .ok)
                #expect(response.headers[.accessControlAllowOrigin] == Self.app)
                #expect(response.headers[.vary]?.contains("Origin") == true)
            }
            // Errors carry the headers too, so the page can read the problem.
            try await client.execute(uri: "/notes", method: .get, headers: [.origin: Self.app]) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.accessControlAllowOrigin] == Self.app)
                #expect(response.headers[.accessControlExposeHeaders]?.contains("WWW-Authenticate") == true)
            }
        }
    }

    @Test func otherOriginsGetNothing() async throws {
        let fixture = NotesFixture()
        try await notes().test(.router) { client in
            for origin in ["https://evil.example", "https://app.example.com.evil.example", "null", "http://app.example.com"] {
                try await client.execute(uri: "/notes", method: .options, headers: [.origin: origin, .accessControlRequestMethod: "GET"]) {
                    response in
                    #expect(response.status == .forbidden, "\(origin)")
                    #expect(response.headers[.accessControlAllowOrigin] == nil)
                }
                try await client.execute(uri: "/notes", method: .get, headers: [.origin: origin, .authorization: "Bearer \(fixture.token())"]) {
                    response in
                    #expect(response.headers[.accessControlAllowOrigin] == nil, "\(origin)")
                    #expect(response.headers[.accessControlAllowCredentials] == nil)
                }
            }
        }
        // Without a list (the default), no CORS at all.
        try await fixture.application().test(.router) { client in
            try await client.execute(uri: "/notes", method: .get, headers: [.origin: Self.app, .authorization: "Bearer \(fixture.token())"]) {
                #expect($0.headers[.accessControlAllowOrigin] == nil)
            }
        }
    }

    @Test func originsAreValidatedAtStart() throws {
        let settings = try ServiceSettings(
            prefix: "NOTES",
            defaultPort: 8082,
            environment: ["NOTES_CORS_ORIGINS": "https://a.example, http://localhost:5173"]
        )
        #expect(settings.corsOrigins == ["https://a.example", "http://localhost:5173"])
        for bad in ["*", "https://a.example/", "https://a.example/app", "a.example", "ftp://a.example"] {
            #expect(throws: InvalidSetting.self, "\(bad)") {
                // `_ =`: with the settings as the closure's result, Swift Testing's backtrace of the thrown error
                // crashed libgcc's unwinder (Swift 6.3.1, Linux).
                _ = try ServiceSettings(prefix: "NOTES", defaultPort: 8082, environment: ["NOTES_CORS_ORIGINS": bad])
            }
        }
    }
}
