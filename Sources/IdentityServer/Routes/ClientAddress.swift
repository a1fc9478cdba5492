import AuthStackCore
import Foundation
import Hummingbird
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IP address or CIDR block (`10.0.0.0/8`, `::1`, `fd00::/8`).
struct AddressBlock: Sendable, Equatable {
    let bytes: [UInt8]
    let prefixLength: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = Self.parse(String(parts[0])) else { return nil }
        bytes = address
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...(address.count * 8)).contains(length) else { return nil }
            prefixLength = length
        } else {
            prefixLength = address.count * 8
        }
    }

    func contains(_ address: [UInt8]) -> Bool {
        guard address.count == bytes.count else { return false }
        var remaining = prefixLength
        for (a, b) in zip(address, bytes) where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            guard a & mask == b & mask else { return false }
            remaining -= bits
        }
        return true
    }

    /// The 4 or 16 bytes of a textual IPv4 or IPv6 address; IPv4-mapped IPv6 addresses become IPv4.
    static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return Array(bytes[12...]) }
        return bytes
    }

    /// Canonical text of 4 or 16 address bytes.
    static func format(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        return bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
                ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown"
        }
    }
}

/// Who the client is, for per-address limits (docs/design.md §6). The TCP peer, unless the request came from a trusted
/// proxy (a peer in `IDENTITY_TRUSTED_PROXIES`, or any connection on `IDENTITY_PROXY_SOCKET`): then the right-most
/// address in `X-Forwarded-For` that is not itself a trusted proxy (the left part of that header is written by the
/// client and cannot be believed). An IPv6 client is counted by its /64, the block one subscriber holds, so that
/// cycling through its own 2^64 addresses gains nothing.
struct ClientAddressResolver: Sendable {
    let trustedProxies: [AddressBlock]

    init(trustedProxies: [String]) {
        self.trustedProxies = trustedProxies.compactMap(AddressBlock.init)
    }

    /// The client's address as a throttle key: IPv4 as is, IPv6 as its `/64` block, `unknown` when there is none.
    func clientAddress(peer: String?, forwardedFor: String?, viaProxySocket: Bool = false) -> String {
        let peerAddress = peer.flatMap(AddressBlock.parse)
        // On the socket the peer is the proxy itself: without a usable header, every such request shares one key.
        var client = viaProxySocket ? nil : peerAddress
        if isTrustedProxy(peerAddress, viaProxySocket: viaProxySocket), let forwardedFor {
            for hop in forwardedFor.split(separator: ",").reversed() {
                guard let address = AddressBlock.parse(hop.trimmingCharacters(in: .whitespaces)) else { break }
                client = address
                if !isTrusted(address) { break }
            }
        }
        return client.map(Self.key) ?? "unknown"
    }

    /// Whether the connection is from a proxy whose `X-Forwarded-*` headers are believed.
    func isTrustedProxy(peer: String?, viaProxySocket: Bool) -> Bool {
        isTrustedProxy(peer.flatMap(AddressBlock.parse), viaProxySocket: viaProxySocket)
    }

    private func isTrustedProxy(_ peer: [UInt8]?, viaProxySocket: Bool) -> Bool {
        viaProxySocket || peer.map(isTrusted) == true
    }

    /// IPv4 as is; IPv6 as its /64 (`2001:db8:1:2::/64`).
    static func key(_ address: [UInt8]) -> String {
        guard address.count == 16 else { return AddressBlock.format(address) }
        return AddressBlock.format(Array(address[0..<8]) + [UInt8](repeating: 0, count: 8)) + "/64"
    }

    private func isTrusted(_ address: [UInt8]) -> Bool { trustedProxies.contains { $0.contains(address) } }
}

/// Hummingbird's basic context plus the TCP peer's address.
public struct IdentityRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's IP address as text, when the connection has one.
    public let peerAddress: String?
    /// Whether the request arrived on the Unix domain socket (`IDENTITY_PROXY_SOCKET`): only a proxy on this machine
    /// that may open that file talks there.
    public let viaProxySocket: Bool

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerAddress = source.channel.remoteAddress?.ipAddress
        if case .unixDomainSocket = source.channel.localAddress { viaProxySocket = true } else { viaProxySocket = false }
    }
}
