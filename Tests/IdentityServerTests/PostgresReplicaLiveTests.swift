import AsyncHTTPClient
import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Prometheus
import Testing

@testable import IdentityServer

/// The scaled topology without containers (DEPLOY.md): replicas of one service as separate applications on loopback,
/// sharing one PostgreSQL database, driven over HTTP.
@Suite(.enabled(if: !TestPostgres.optedOut, "AUTHSTACK_TEST_POSTGRES=off"), .timeLimit(.minutes(3)), .serialized)
struct PostgresReplicaLiveTests {
    /// Twenty concurrent refreshes with one token, spread over two identity replicas on one database: one
    /// rotation, every caller gets the same successor.
    @Test func twentyConcurrentRefreshesAcrossTwoIdentityReplicasShareOneSuccessor() async throws {
        try await TestDatabase.with(.postgres) { database in
            let fixture = try IdentityFixture {
                $0.database.url = database.url
                $0.database.acquireTimeout = TestDatabase.acquireTimeout
            }
            try await fixture.application().test(.live) { first in
                try await fixture.application().test(.live) { second in
                    let ports = [try #require(first.port), try #require(second.port)]
                    let issued = try await first.signup("replicated")
                    let statuses = try await withThrowingTaskGroup(of: (UInt, String?).self) { group in
                        for index in 0..<20 {
                            group.addTask { try await Self.refresh(issued.refreshToken, port: ports[index % 2]) }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    #expect(statuses.allSatisfy { $0.0 == 200 }, "\(statuses.map(\.0))")
                    let successors = Set(statuses.compactMap(\.1))
                    #expect(successors.count == 1, "every caller got the same successor")
                    let successor = try #require(successors.first)
                    #expect(try await second.refresh(successor).status == .ok, "and it is the session's live token on either replica")
                    #expect(try await first.login("replicated").status == .ok, "users are shared too")
                }
            }
        }
    }

    private static func refresh(_ token: String, port: Int) async throws -> (UInt, String?) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/refresh")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"refresh_token":"\#(token)"}"#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 16)
        let object = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
        return (response.status.code, object?["refresh_token"] as? String)
    }
}
