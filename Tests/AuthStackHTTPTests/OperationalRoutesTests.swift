import AuthStackCore
import AuthStackHTTP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The endpoints and middleware every service shares (docs/design.md §5 "Every service", §9).
@Suite struct OperationalRoutesTests {
    private func application(runtime: ServiceRuntime = ServiceRuntime(name: "test")) -> some ApplicationProtocol {
        let router = runtime.makeRouter(context: BasicRequestContext.self)
        router.get("/boom") { _, _ -> String in throw CancellationError() }
        router.get("/problem") { _, _ -> String in throw ProblemDetails(.rateLimited, detail: "slow down", retryAfter: 7) }
        router.get("/items/{id}") { _, _ in "item" }
        router.get("/full") { _, _ -> String in throw StorageUnavailable(.diskFull) }
        router.get("/away") { _, _ -> String in throw StorageUnavailable(.unreachable) }
        return Application(router: router.router)
    }

    private func problem(_ response: TestResponse) throws -> [String: Any] {
        #expect(response.headers[.contentType] == "application/problem+json")
        return try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as! [String: Any]
    }

    @Test func healthzIsAlwaysOK() async throws {
        try await application().test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
        }
    }

    @Test func readyzIs503WithTheFailingChecksUntilReady() async throws {
        let runtime = ServiceRuntime(name: "test")
        let ready = ReadyFlag()
        runtime.readiness.add("keyring") { await ready.value }
        try await application(runtime: runtime).test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
                let body = try problem(response)
                #expect(body["code"] as? String == "service_unavailable")
                #expect((body["detail"] as? String)?.contains("keyring") == true)
            }
            await ready.set(true)
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func metricsCountRequestsByRoutePatternAndStatus() async throws {
        try await application().test(.router) { client in
            try await client.execute(uri: "/items/123", method: .get) { _ in }
            try await client.execute(uri: "/nowhere", method: .get) { _ in }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                #expect(text.contains(#"http_requests_total{route="/items/{id}",method="GET",status="200"} 1"#))
                #expect(text.contains(#"status="404""#))
                #expect(text.contains("http_request_duration_seconds_bucket"))
                #expect(!text.contains("/items/123"), "raw paths with ids are not labels")
            }
        }
    }

    @Test func unknownRouteIsAProblemNotFound() async throws {
        try await application().test(.router) { client in
            try await client.execute(uri: "/nowhere", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try problem(response)
                #expect(body["code"] as? String == "not_found")
            }
        }
    }

    /// RFC 9110 §15.5.6: a path that exists, asked with a method it does not take, is 405 with the methods it does take.
    @Test func knownPathWithAnotherMethodIs405WithAllow() async throws {
        let runtime = ServiceRuntime(name: "test")
        let router = runtime.makeRouter(context: BasicRequestContext.self)
        router.get("/items/{id}") { _, _ in "item" }
        router.patch("/items/{id}") { _, _ in "patched" }
        router.get("/items/{id}/missing") { _, _ -> String in throw HTTPError(.notFound) }
        try await Application(router: router.router).test(.router) { client in
            try await client.execute(uri: "/items/7", method: .delete) { response throws in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, PATCH")
                #expect(try problem(response)["code"] as? String == "method_not_allowed")
            }
            try await client.execute(uri: "/healthz", method: .post) { response throws in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET")
            }
            // Still 404: no route has this shape; and a handler's own 404 on a matching method stays a 404.
            try await client.execute(uri: "/items/7/8", method: .delete) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.allow] == nil)
            }
            try await client.execute(uri: "/items/7/missing", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/items/7", method: .patch) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func unexpectedErrorIsAnOpaque500() async throws {
        try await application().test(.router) { client in
            try await client.execute(uri: "/boom", method: .get) { response in
                #expect(response.status == .internalServerError)
                let body = try problem(response)
                #expect(body["code"] as? String == "internal_error")
                #expect(!(body["detail"] as? String ?? "").contains("Cancellation"))
            }
        }
    }

    /// A database that cannot serve now is the service's 503 with `Retry-After`, naming the kind of failure, never a 500.
    @Test func storageUnavailableIs503WithRetryAfter() async throws {
        try await application().test(.router) { client in
            for (uri, retryAfter, words) in [("/full", "30", "out of space"), ("/away", "1", "unreachable")] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .serviceUnavailable, "\(uri)")
                    #expect(response.headers[.retryAfter] == retryAfter, "\(uri)")
                    let body = try problem(response)
                    #expect(body["code"] as? String == "service_unavailable")
                    #expect((body["detail"] as? String)?.contains(words) == true)
                }
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"storage_unavailable_total{cause="disk_full"} 1"#), "counted by cause")
                #expect(text.contains(#"storage_unavailable_total{cause="unreachable"} 1"#))
            }
        }
    }

    @Test func problemErrorsKeepTheirCodeAndRetryAfter() async throws {
        try await application().test(.router) { client in
            try await client.execute(uri: "/problem", method: .get) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[.retryAfter] == "7")
                #expect(response.headers[.cacheControl] == "no-store")
                let body = try problem(response)
                #expect(body["code"] as? String == "rate_limited")
            }
        }
    }

    @Test func wellFormedRequestIDIsEchoed() async throws {
        try await application().test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get, headers: [HTTPField.Name("X-Request-ID")!: "abc-123"]) { response in
                #expect(response.headers[HTTPField.Name("X-Request-ID")!] == "abc-123")
            }
        }
    }

    @Test func missingOrMalformedRequestIDIsReplacedByAGeneratedOne() async throws {
        try await application().test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get, headers: [HTTPField.Name("X-Request-ID")!: "bad id\" with quotes"]) { response in
                let id = response.headers[HTTPField.Name("X-Request-ID")!]
                #expect(id != nil && id != "bad id\" with quotes")
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.headers[HTTPField.Name("X-Request-ID")!]?.isEmpty == false)
            }
        }
    }
}

/// A readiness flag the test flips.
actor ReadyFlag {
    var value = false
    func set(_ newValue: Bool) { value = newValue }
}
