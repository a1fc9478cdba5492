import AsyncHTTPClient
import AuthStackHTTP
import AuthStackTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import IdentityServer

/// Who counts as one client for the per-address limits (issue 17, item 4; docs/security.md "Client address"): the TCP
/// peer, unless the request comes from a trusted proxy, which is a configured address or identity's own proxy socket.
@Suite struct ClientAddressTests {
    @Test func addressesComeFromTrustedProxiesOnly() {
        let direct = ClientAddressResolver(trustedProxies: [])
        #expect(direct.clientAddress(peer: "203.0.113.9", forwardedFor: "1.2.3.4") == "203.0.113.9", "a client cannot forge its address")
        #expect(direct.clientAddress(peer: "127.0.0.1", forwardedFor: "1.2.3.4") == "127.0.0.1", "nor a local one: loopback is not trusted")
        #expect(direct.clientAddress(peer: nil, forwardedFor: nil) == "unknown")
        #expect(direct.clientAddress(peer: "::ffff:10.0.0.7", forwardedFor: nil) == "10.0.0.7")

        let proxied = ClientAddressResolver(trustedProxies: ["10.0.0.0/8", "fd00::/8"])
        #expect(proxied.clientAddress(peer: "10.1.2.3", forwardedFor: "198.51.100.7") == "198.51.100.7")
        #expect(
            proxied.clientAddress(peer: "10.1.2.3", forwardedFor: "6.6.6.6, 198.51.100.7, 10.0.0.2") == "198.51.100.7",
            "the right-most untrusted hop; the client-written left part is ignored"
        )
        #expect(proxied.clientAddress(peer: "10.1.2.3", forwardedFor: "garbage, 198.51.100.7") == "198.51.100.7")
        #expect(proxied.clientAddress(peer: "10.1.2.3", forwardedFor: "198.51.100.7, garbage") == "10.1.2.3")
        #expect(proxied.clientAddress(peer: "10.1.2.3", forwardedFor: nil) == "10.1.2.3")
        #expect(AddressBlock("10.0.0.0/33") == nil)
        #expect(AddressBlock("not-an-ip") == nil)
    }

    @Test func aRequestOnTheProxySocketIsFromATrustedProxy() {
        let resolver = ClientAddressResolver(trustedProxies: [])
        #expect(resolver.clientAddress(peer: nil, forwardedFor: "198.51.100.7", viaProxySocket: true) == "198.51.100.7")
        #expect(resolver.clientAddress(peer: nil, forwardedFor: "6.6.6.6, 198.51.100.7", viaProxySocket: true) == "198.51.100.7")
        #expect(resolver.clientAddress(peer: nil, forwardedFor: nil, viaProxySocket: true) == "unknown", "no header: one shared key")
        #expect(resolver.clientAddress(peer: nil, forwardedFor: "garbage", viaProxySocket: true) == "unknown")
        #expect(resolver.isTrustedProxy(peer: nil, viaProxySocket: true))
        #expect(!resolver.isTrustedProxy(peer: "127.0.0.1", viaProxySocket: false))
    }

    /// An IPv6 subscriber holds a /64 (or more): counted per address, it could spread its guesses over 2^64 of them.
    @Test func ipv6ClientsAreCountedPer64() {
        let direct = ClientAddressResolver(trustedProxies: [])
        #expect(direct.clientAddress(peer: "2001:db8:1:2::5", forwardedFor: nil) == "2001:db8:1:2::/64")
        #expect(direct.clientAddress(peer: "2001:db8:1:2:ffff:ee:dd:cc", forwardedFor: nil) == "2001:db8:1:2::/64")
        #expect(direct.clientAddress(peer: "2001:db8:1:3::5", forwardedFor: nil) == "2001:db8:1:3::/64")
        #expect(direct.clientAddress(peer: "::1", forwardedFor: nil) == "::/64")
        let proxied = ClientAddressResolver(trustedProxies: ["fd00::/8"])
        #expect(proxied.clientAddress(peer: "fd12::1", forwardedFor: "2001:db8::5") == "2001:db8::/64")
        #expect(proxied.clientAddress(peer: "fd12::1", forwardedFor: "2001:db8::5, fd00::9") == "2001:db8::/64")
    }

    /// Live, with the failed-login budget per address at 3: rotating `X-Forwarded-For` straight to identity over TCP
    /// (loopback, which is not trusted) still runs into 429; on the proxy socket the header is believed, so each
    /// forwarded client has its own budget.
    @Test func rotatingForwardedForOverTCPDoesNotEscapeTheAddressLimit() async throws {
        let directory = try PrivateDirectory()
        defer { directory.remove() }
        let socket = directory.path + "/identity.sock"
        let fixture = try IdentityFixture {
            $0.throttle.loginFailuresPerAddress = 3
            $0.proxySocket = socket
        }
        let service = try await RunningService.start(try await fixture.application())
        defer { Task { await service.stop() } }

        var tcp: [UInt] = []
        for attempt in 0..<6 {
            tcp.append(
                try await login(url: "http://127.0.0.1:\(service.port)/login", forwardedFor: "198.51.100.\(attempt)", name: "nobody\(attempt)")
            )
        }
        #expect(tcp == [401, 401, 401, 429, 429, 429], "rotating the header from a local client changes nothing: \(tcp)")

        let base = "http+unix://" + socket.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        try await waitForSocket(base)
        var proxied: [UInt] = []
        for attempt in 0..<4 {
            proxied.append(try await login(url: base + "/login", forwardedFor: "203.0.113.9", name: "ghost\(attempt)"))
        }
        #expect(proxied == [401, 401, 401, 429], "one forwarded client has its own budget of 3: \(proxied)")
        let other = try await login(url: base + "/login", forwardedFor: "203.0.113.10", name: "ghost9")
        #expect(other == 401, "another forwarded client is not held back by the first")
        await service.stop()
    }

    private func login(url: String, forwardedFor: String, name: String) async throws -> UInt {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers = ["Content-Type": "application/json", "X-Forwarded-For": forwardedFor]
        request.body = .bytes(ByteBuffer(string: #"{"username":"\#(name)","password":"wrong password"}"#))
        let response = try await RunningService.http.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 16)
        return response.status.code
    }

    private func waitForSocket(_ base: String) async throws {
        for _ in 0..<200 {
            if let response = try? await RunningService.http.execute(HTTPClientRequest(url: base + "/healthz"), timeout: .seconds(2)),
                response.status == .ok
            {
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("the proxy socket never answered")
    }
}

/// A fresh directory under /tmp (short enough for a Unix socket path), removed by ``remove()``.
struct PrivateDirectory {
    let path: String

    init() throws {
        path = "/tmp/as-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
