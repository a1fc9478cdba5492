import AuthStackCore
import AuthStackTestSupport
import Foundation
import Glibc
import PostgresNIO
import Testing

@testable import AuthStackStorage

/// The pool during an outage (issue 23): the first failed connection attempt refuses the caller waiting for it and
/// makes the pool unavailable; later callers are refused at once, without a connection attempt of their own, until
/// the probe sees the server again.
@Suite(.enabled(if: !TestPostgres.optedOut, "AUTHSTACK_TEST_POSTGRES=off"), .timeLimit(.minutes(2)))
struct PostgresOutageTests {
    @Test func aFailedConnectionRefusesTheWaitingCallerAndLaterOnesUntilTheServerIsBack() async throws {
        try await TestDatabase.with(.postgres) { database in
            let url = try #require(database.url)
            // The acquire timeout is the suite's long one: the refusal must come from the failed connection attempt.
            let pool = try database.postgresPool(maximumConnections: 2)
            let outage = DatabaseOutage(url)
            #expect(try await pool.rows("SELECT 1").count == 1)
            #expect(pool.isAvailable)
            try await outage.begin()

            // The first caller meets the outage: an answer, not a wait for as long as the server is away.
            let first = try await finished(within: .seconds(10)) { () async -> (any Error)? in
                do {
                    _ = try await pool.transaction { connection in try await connection.rows("SELECT 1") }
                    return nil
                } catch {
                    return error
                }
            }
            let error = try #require(first, "the first statement of the outage did not end within 10 s")
            #expect(error as? StorageUnavailable == StorageUnavailable(.unreachable), "\(String(describing: error))")
            // The refusal came from a failed connection attempt, or from the connection the server ended (then the
            // next attempt fails and opens the breaker).
            var refusing = !pool.isAvailable
            for _ in 0..<100 where !refusing {
                _ = try? await pool.rows("SELECT 1")
                refusing = !pool.isAvailable
                if !refusing { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(refusing, "the pool now refuses callers at once")
            await #expect(throws: StorageUnavailable(.unreachable)) { try await pool.rows("SELECT 1") }
            #expect(await pool.answers(within: .seconds(2)) == false)

            try await outage.end()
            var available = false
            for _ in 0..<80 where !available {
                available = pool.isAvailable
                if !available { try await Task.sleep(for: .milliseconds(250)) }
            }
            #expect(available, "the probe opened the pool again within 20 s of the server accepting connections")
            #expect(try await pool.rows("SELECT 1").count == 1)
            await pool.close()
            await outage.close()
        }
    }

    /// The acquire timer, the one way out when no connection attempt fails: a server that accepts connections and
    /// never answers (here a socket that listens and never accepts; the kernel completes the handshakes) would keep a
    /// caller waiting for as long as postgres-nio's connect timeout, which is ten minutes here. Needs no PostgreSQL.
    @Test func aServerThatNeverAnswersRefusesEachCallerAfterTheAcquireTimeout() async throws {
        let server = try SilentListener()
        let url = try PostgresURL("postgres://authstack:unused@127.0.0.1:\(server.port)/none?sslmode=disable", variable: "TEST_URL")
        let pool = PostgresConnectionPool(
            url: url,
            logger: TestDatabase.logger,
            maximumConnections: 2,
            acquireTimeout: .milliseconds(200),
            connectTimeout: .seconds(600)
        )
        for caller in 1...2 {
            let outcome = try await finished(within: .seconds(60)) { () async -> (any Error)? in
                do {
                    _ = try await pool.rows("SELECT 1")
                    return nil
                } catch {
                    return error
                }
            }
            let error = try #require(outcome, "caller \(caller) was still waiting after 60 s: the acquire timer did not fire")
            #expect(error as? StorageUnavailable == StorageUnavailable(.unreachable), "caller \(caller): \(String(describing: error))")
        }
        // No attempt failed, so the pool is not marked unavailable: a wait that timed out refuses its own caller only.
        #expect(pool.isAvailable)
        #expect(server.connectionsWaiting() > 0, "the pool did reach the silent server")
        server.close()  // resets the connections it never accepted: the attempts end, and so does the pool
        await pool.close()
    }

    @Test func errorsThatMeanTheDatabaseCannotServeNowAreNamed() {
        #expect(PostgresConnectionPool.unavailability(PostgresConnectionClosedError()) == StorageUnavailable(.unreachable))
        #expect(PostgresConnectionPool.unavailability(StorageUnavailable(.diskFull)) == StorageUnavailable(.diskFull))
        #expect(PostgresConnectionPool.unavailability(CancellationError()) == nil, "not a database failure")
        struct Other: Error {}
        #expect(PostgresConnectionPool.unavailability(Other()) == nil)
    }
}

/// A TCP socket on 127.0.0.1 that listens and never accepts: clients connect (the kernel completes the handshake for
/// the backlog) and then wait for an answer that never comes.
private final class SilentListener: Sendable {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && listen(descriptor, 16) == 0
                    && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else {
            let error = errno
            Glibc.close(descriptor)
            throw POSIXError(.init(rawValue: error) ?? .EIO)
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Connections completed and not accepted (the accept queue's length, from the kernel's listen-socket diagnostics).
    func connectionsWaiting() -> Int {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(descriptor, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else { return -1 }
        return Int(info.tcpi_unacked)  // for a listening socket: the current accept-queue length
    }

    func close() { Glibc.close(descriptor) }
}
