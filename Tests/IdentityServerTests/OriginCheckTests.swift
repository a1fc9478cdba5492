import AsyncHTTPClient
import AuthStackCore
import AuthStackHTTP
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Testing

@testable import IdentityServer

/// Cross-site requests on the endpoints a cookie or a form can drive (issue 17, item 5; docs/security.md "Origin
/// check"). Before the fix, `Origin: https://evil.example` with the cookie logged the user out (204) and rotated the
/// refresh token (200), and a form-encoded `/logout` was read as "no body".
@Suite struct OriginCheckTests {
    typealias J = IdentityJSON
    static let cookieEndpoints = ["/signup", "/login", "/refresh", "/logout", "/logout-all"]

    private func request(_ headers: HTTPFields, authority: String? = "auth.example.com") -> Request {
        let head = HTTPRequest(method: .post, scheme: "http", authority: authority, path: "/logout", headerFields: headers)
        return Request(head: head, body: RequestBody(buffer: ByteBuffer()))
    }

    private func allowed(_ check: OriginCheck, _ headers: HTTPFields, authority: String? = "auth.example.com", proxied: Bool = false) -> Bool {
        (try? check.require(request(headers, authority: authority), fromTrustedProxy: proxied)) != nil
    }

    @Test func aBrowserRequestFromAnotherOriginIsRefused() {
        let check = OriginCheck(allowList: ["https://app.example.com"])
        #expect(allowed(check, [:]), "no Origin, no Sec-Fetch-Site: curl, Postman, a server")
        #expect(allowed(check, [.origin: "http://auth.example.com"]), "the service's own origin")
        #expect(allowed(check, [.origin: "http://AUTH.example.com:80"]), "the same origin, written differently")
        #expect(allowed(check, [.origin: "https://app.example.com"]), "an origin on the CORS allow-list")
        #expect(allowed(check, [.origin: "https://app.example.com", .secFetchSite: "cross-site"]), "allow-listed, even cross-site")
        #expect(allowed(check, [.secFetchSite: "same-origin"]))
        #expect(allowed(check, [.secFetchSite: "none"]), "typed into the address bar")

        #expect(!allowed(check, [.origin: "https://evil.example"]))
        #expect(!allowed(check, [.origin: "http://sibling.example.com"]), "a sibling subdomain is the same site, not the same origin")
        #expect(!allowed(check, [.origin: "https://auth.example.com"]), "another scheme is another origin")
        #expect(!allowed(check, [.origin: "http://auth.example.com:8080"]), "another port is another origin")
        #expect(!allowed(check, [.origin: "null"]), "sandboxed frames and privacy-sensitive redirects send null")
        #expect(!allowed(check, [.secFetchSite: "cross-site"]), "a cross-site request without Origin")
        #expect(!allowed(check, [.origin: "http://auth.example.com", .secFetchSite: "cross-site"]))
        #expect(!allowed(check, [.origin: "https://app.example.com/"]), "allow-list entries match exactly")
        #expect(!allowed(check, [.origin: "http://auth.example.com"], authority: nil), "no Host to compare with")
    }

    /// Behind a proxy, identity is reached under another name; the proxy says which one the browser used. Only a
    /// trusted proxy is believed.
    @Test func theOwnOriginBehindATrustedProxyIsTheForwardedOne() {
        let check = OriginCheck(allowList: [])
        let forwarded: HTTPFields = [.origin: "https://notes.example.org", .xForwardedHost: "notes.example.org", .xForwardedProto: "https"]
        #expect(allowed(check, forwarded, authority: "identity:8081", proxied: true))
        #expect(!allowed(check, forwarded, authority: "identity:8081", proxied: false), "X-Forwarded-* from anyone else is ignored")
        #expect(allowed(check, [.origin: "http://127.0.0.1:8080", .xForwardedHost: "127.0.0.1:8080"], authority: "localhost", proxied: true))
        #expect(allowed(check, [.origin: "http://identity:8081"], authority: "identity:8081", proxied: true), "no forwarded host: the Host")
    }

    @Test func originsAreComparedWithDefaultPortsAndLowerCase() {
        #expect(OriginCheck.normalized(origin: "https://Example.com") == "https://example.com:443")
        #expect(OriginCheck.normalized(origin: "http://example.com:80") == "http://example.com:80")
        #expect(OriginCheck.normalized(origin: "http://[::1]:8080") == "http://[::1]:8080")
        #expect(OriginCheck.normalized(origin: "http://[::1]") == "http://[::1]:80")
        #expect(OriginCheck.normalized(scheme: "http", authority: "127.0.0.1:8080") == "http://127.0.0.1:8080")
        for bad in [
            "null", "file://", "ftp://example.com", "http://", "http://example.com/path", "http://user@example.com", "http://example.com:0",
            "http://example.com:x",
        ] {
            #expect(OriginCheck.normalized(origin: bad) == nil, "\(bad)")
        }
    }

    @Test(arguments: cookieEndpoints)
    func everyCookieEndpointRefusesAnotherOrigin(path: String) async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            let tokens = try await client.signup("origin-\(path.dropFirst().prefix(6))")
            var headers = J.jsonHeaders
            headers[.origin] = "https://evil.example"
            headers[.cookie] = "refresh_token=\(tokens.refreshToken)"
            headers[.authorization] = "Bearer \(tokens.accessToken)"
            let body = path == "/signup" || path == "/login" ? J.credentials("origin-\(path.dropFirst().prefix(6))") : ByteBuffer()
            try await client.execute(uri: path, method: .post, headers: headers, body: body) { response throws in
                #expect(response.status == .forbidden)
                #expect(try J.object(response)["code"] as? String == "origin_not_allowed")
                #expect(response.headers[.setCookie] == nil, "no cookie set, none cleared")
            }
            // Nothing happened: the session is alive and its token unspent.
            #expect(try await client.refresh(tokens.refreshToken).status == .ok)
        }
    }

    /// A form post needs no preflight; with the cookie it used to log the user out.
    @Test func aFormEncodedLogoutIs415AndLogsNobodyOut() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            let tokens = try await client.signup("form-victim")
            try await client.execute(
                uri: "/logout",
                method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", .cookie: "refresh_token=\(tokens.refreshToken)"],
                body: ByteBuffer(string: "a=b")
            ) { response in
                #expect(response.status == .unsupportedMediaType)
                #expect(response.headers[.setCookie] == nil)
            }
            // A body with no type at all: what `fetch(url, {method: "POST", body: blob, credentials: "include"})` sends.
            try await client.execute(
                uri: "/refresh",
                method: .post,
                headers: [.cookie: "refresh_token=\(tokens.refreshToken)"],
                body: ByteBuffer(string: "{}")
            ) { response in
                #expect(response.status == .unsupportedMediaType)
            }
            #expect(try await client.refresh(tokens.refreshToken).status == .ok, "the session survived both")
        }
    }

    @Test func theOwnOriginAndTheAllowListAndNoOriginStillWork() async throws {
        let fixture = try IdentityFixture()
        var settings = ServiceSettings(host: "127.0.0.1", port: 0)
        settings.corsOrigins = ["https://app.example.com"]
        try await fixture.application(settings: settings).test(.router) { client in
            var fromApp = J.jsonHeaders
            fromApp[.origin] = "https://app.example.com"
            fromApp[.secFetchSite] = "cross-site"
            try await client.execute(uri: "/signup", method: .post, headers: fromApp, body: J.credentials("allowed-app")) {
                #expect($0.status == .created)
            }
            try await client.execute(uri: "/login", method: .post, headers: J.jsonHeaders, body: J.credentials("allowed-app")) {
                #expect($0.status == .ok, "no Origin: curl and Postman")
            }
        }
    }

    /// Over a real connection the own origin is the `Host` the client sent (HTTP/1's `Host` becomes the request's
    /// authority): a page served by identity itself passes, the same page on another port does not.
    @Test func theOwnOriginIsTheHostOverARealConnection() async throws {
        let service = try await RunningService.start(try await IdentityFixture().application())
        func login(origin: String) async throws -> UInt {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(service.port)/login")
            request.method = .POST
            request.headers = ["Content-Type": "application/json", "Origin": origin]
            request.body = .bytes(ByteBuffer(string: #"{"username":"nobody","password":"wrong password"}"#))
            let response = try await RunningService.http.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 16)
            return response.status.code
        }
        do {
            #expect(try await login(origin: "http://127.0.0.1:\(service.port)") == 401, "its own origin: on to the password check")
            #expect(try await login(origin: "http://127.0.0.1:\(service.port + 1)") == 403)
        } catch {
            await service.stop()
            throw error
        }
        await service.stop()
    }
}
