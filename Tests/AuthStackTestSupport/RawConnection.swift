import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A blocking loopback socket with a receive timeout, for byte-exact requests HTTP clients refuse to send.
package final class RawConnection: @unchecked Sendable {
    package let descriptor: Int32

    package init(port: Int, timeout: Double = 10) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        var limit = timeval(tv_sec: Int(timeout), tv_usec: Int(timeout.truncatingRemainder(dividingBy: 1) * 1_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(descriptor) }

    package func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Everything until the peer closes or the timeout passes; `closed` tells which (a reset counts as closed: the
    /// server closed while this side was still sending).
    package func readAll() -> (text: String, closed: Bool) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += buffer[0..<count]
                continue
            }
            return (String(decoding: received, as: UTF8.self), count == 0 || errno == ECONNRESET)
        }
    }

    /// Sends `head`, then one byte every `interval` for at most `limit` seconds while another thread reads; ends
    /// when the server closes. The answer, whether the server closed, and how long the trickle lasted.
    package static func trickle(
        port: Int,
        head: [UInt8],
        interval: Double,
        limit: Double
    ) async throws -> (text: String, closed: Bool, seconds: Double) {
        let connection = try RawConnection(port: port, timeout: limit + 5)
        let done = Mutex(false)
        let started = ContinuousClock.now
        connection.send(head)
        Thread.detachNewThread {
            while !done.withLock({ $0 }) && ContinuousClock.now - started < .seconds(limit) {
                Thread.sleep(forTimeInterval: interval)
                connection.send(Array("x".utf8))
            }
        }
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let (text, closed) = connection.readAll()
                done.withLock { $0 = true }
                let elapsed = ContinuousClock.now - started
                continuation.resume(returning: (text, closed, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            }
        }
    }

    /// Connects, sends `parts` (pausing `pause` between them) and reads until close or timeout — on a thread of its
    /// own: blocking socket calls on the cooperative pool would starve the server under test.
    package static func exchange(
        port: Int,
        _ parts: [[UInt8]],
        pause: Duration = .zero,
        timeout: Double = 10
    ) async throws -> (text: String, closed: Bool) {
        let connection = try RawConnection(port: port, timeout: timeout)
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                for (index, part) in parts.enumerated() {
                    if index > 0 { Thread.sleep(forTimeInterval: Double(pause.components.seconds) + Double(pause.components.attoseconds) / 1e18) }
                    connection.send(part)
                }
                continuation.resume(returning: connection.readAll())
            }
        }
    }

    /// The status code of the first response in `text`, if any.
    package static func status(_ text: String) -> Int? {
        guard text.hasPrefix("HTTP/1.1 ") else { return nil }
        return Int(text.dropFirst(9).prefix(3))
    }
}
