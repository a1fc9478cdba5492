import AsyncHTTPClient
import AuthStackCore
import AuthStackHTTP
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Testing

@testable import IdentityServer

/// The refresh protocol of docs/design.md §3: rotation on every use, idempotent grace-window retries, reuse detection
/// that revokes the session, idle and absolute lifetimes.
@Suite struct IdentityRefreshTests {
    typealias J = IdentityJSON

    @Test func refreshRotatesFromTheBodyOrTheCookie() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            let first = try await client.signup("rotor")
            let second = try IssuedTokens(try await client.refresh(first.refreshToken))
            #expect(second.refreshToken != first.refreshToken)
            #expect(try fixture.verify(second.accessToken).sessionID == (try fixture.verify(first.accessToken).sessionID))
            // Cookie only, no body at all.
            let third = try await client.execute(uri: "/refresh", method: .post, headers: [.cookie: "refresh_token=\(second.refreshToken)"]) {
                #expect($0.status == .ok)
                return try IssuedTokens($0)
            }
            #expect(third.setCookie?.hasPrefix("refresh_token=\(third.refreshToken);") == true)
            // The body wins over the cookie.
            let fourth = try await client.execute(
                uri: "/refresh",
                method: .post,
                headers: [.cookie: "refresh_token=rt_garbage", .contentType: "application/json"],
                body: J.body(["refresh_token": third.refreshToken])
            ) {
                #expect($0.status == .ok)
                return try IssuedTokens($0)
            }
            // Access tokens issued before keep verifying (refresh never invalidates them).
            for tokens in [first, second, third, fourth] { #expect(try fixture.verify(tokens.accessToken).subject.hasPrefix("u_")) }
        }
    }

    @Test func missingMalformedAndUnknownTokensAreInvalid() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            for body in [nil, J.body([:]), J.body(["refresh_token": "nope"]), J.body(["refresh_token": "rt_" + String(repeating: "A", count: 43)])] {
                try await client.execute(uri: "/refresh", method: .post, headers: J.jsonHeaders, body: body) { response throws in
                    #expect(response.status == .unauthorized)
                    #expect(try J.object(response)["code"] as? String == "invalid_refresh_token")
                    #expect(response.headers[.setCookie]?.contains("Max-Age=0") == true)
                }
            }
            try await client.execute(uri: "/refresh", method: .post, headers: J.jsonHeaders, body: J.body(["refresh_token": 12])) { response throws in
                #expect(response.status == .badRequest)
                #expect(try J.errorFields(response) == ["refresh_token"])
            }
        }
    }

    @Test func aRetryInsideTheGraceWindowGetsTheSameSuccessor() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            let first = try await client.signup("two-tabs")
            let successor = try IssuedTokens(try await client.refresh(first.refreshToken))
            fixture.clock.advance(9)
            let retry = try IssuedTokens(try await client.refresh(first.refreshToken))
            #expect(retry.refreshToken == successor.refreshToken, "idempotent: the same successor")
            #expect(retry.accessToken != successor.accessToken, "with a fresh access token")
            // Replays do not extend the window: 10 s after the first use it is reuse, and the session dies.
            fixture.clock.advance(1)
            let reuse = try await client.refresh(first.refreshToken)
            #expect(reuse.status == .unauthorized)
            #expect(try J.object(reuse)["code"] as? String == "refresh_token_reused")
            let afterRevocation = try await client.refresh(successor.refreshToken)
            #expect(try J.object(afterRevocation)["code"] as? String == "invalid_refresh_token", "the whole family is revoked")
        }
    }

    @Test func onlyTheImmediatePredecessorMayBeReplayed() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            let first = try await client.signup("chain")
            let second = try IssuedTokens(try await client.refresh(first.refreshToken))
            let third = try IssuedTokens(try await client.refresh(second.refreshToken))
            // `first` was consumed a moment ago, but it is no longer the newest token's predecessor: reuse.
            let reuse = try await client.refresh(first.refreshToken)
            #expect(try J.object(reuse)["code"] as? String == "refresh_token_reused")
            #expect(try await client.refresh(third.refreshToken).status == .unauthorized)
            // The user's other sessions are untouched.
            let other = try IssuedTokens(try await client.login("chain"))
            #expect(try await client.refresh(other.refreshToken).status == .ok)
        }
    }

    @Test func idleAndAbsoluteLifetimesEndSessions() async throws {
        let fixture = try IdentityFixture {
            $0.refresh.idleLifetime = 100
            $0.refresh.absoluteLifetime = 250
        }
        try await fixture.application().test(.router) { client in
            var tokens = try await client.signup("lifetimes")
            #expect(tokens.refreshExpiresIn == 100)
            // Each refresh inside the idle limit extends it, until the absolute limit caps it.
            for elapsed in [90, 180] {
                fixture.clock.advance(90)
                tokens = try IssuedTokens(try await client.refresh(tokens.refreshToken))
                #expect(tokens.refreshExpiresIn == min(100, 250 - elapsed))
            }
            fixture.clock.advance(70)  // t = 250: the absolute limit
            #expect(try J.object(try await client.refresh(tokens.refreshToken))["code"] as? String == "invalid_refresh_token")

            let idle = try await client.signup("idler")
            fixture.clock.advance(100)
            #expect(try await client.refresh(idle.refreshToken).status == .unauthorized)
        }
    }

    @Test func twentyConcurrentRefreshesWithOneTokenAllGetTheSameSuccessor() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.live) { client in
            let first = try await client.signup("racer")
            let port = try #require(client.port)
            let statuses = try await withThrowingTaskGroup(of: (UInt, String?).self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/refresh")
                        request.method = .POST
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.body = .bytes(ByteBuffer(string: #"{"refresh_token":"\#(first.refreshToken)"}"#))
                        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                        let body = try await response.body.collect(upTo: 1 << 16)
                        let object = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
                        return (response.status.code, object?["refresh_token"] as? String)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0.0 == 200 }, "\(statuses.map(\.0))")
            let successors = Set(statuses.compactMap(\.1))
            #expect(successors.count == 1, "every caller got the same successor")
            let successor = try #require(successors.first)
            #expect(try await client.refresh(successor).status == .ok, "and it is the session's live token")
        }
    }

    @Test func thirtyConcurrentSignupsOfOneNameCreateOneUser() async throws {
        let fixture = try IdentityFixture { $0.hashQueue = 64 }
        try await fixture.application().test(.live) { client in
            let port = try #require(client.port)
            let statuses = try await withThrowingTaskGroup(of: UInt.self) { group in
                for index in 0..<30 {
                    group.addTask {
                        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/signup")
                        request.method = .POST
                        request.headers.add(name: "Content-Type", value: "application/json")
                        let name = index % 2 == 0 ? "Popular" : "popular"
                        request.body = .bytes(ByteBuffer(string: #"{"username":"\#(name)","password":"password \#(index)"}"#))
                        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 16)
                        return response.status.code
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 201 }.count == 1, "\(statuses)")
            #expect(statuses.filter { $0 == 409 }.count == 29, "\(statuses)")
        }
    }
}

/// The pure refresh decision, with a fixed clock.
@Suite struct RefreshDecisionTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let settings = RefreshSettings(idleLifetime: 100, absoluteLifetime: 1_000, graceWindow: 10)

    func session(generation: Int, revoked: Bool = false) -> SessionRecord {
        SessionRecord(
            id: "s",
            userID: "u",
            generation: generation,
            createdAt: start,
            lastUsedAt: start,
            idleExpiresAt: start + 100,
            absoluteExpiresAt: start + 1_000,
            revokedAt: revoked ? start : nil,
            userAgent: nil
        )
    }

    func token(generation: Int, consumedAt: Date? = nil, sealed: Bool = true) -> RefreshTokenRecord {
        RefreshTokenRecord(
            sessionID: "s",
            generation: generation,
            issuedAt: start,
            consumedAt: consumedAt,
            sealedSuccessor: sealed && consumedAt != nil ? [1] : nil
        )
    }

    @Test func decisions() {
        let now = start + 5
        #expect(RefreshDecision.decide(token: token(generation: 3), session: session(generation: 3), now: now, settings: settings) == .rotate)
        #expect(
            RefreshDecision.decide(token: token(generation: 2, consumedAt: start), session: session(generation: 3), now: now, settings: settings)
                == .replay
        )
        #expect(
            RefreshDecision.decide(
                token: token(generation: 2, consumedAt: start),
                session: session(generation: 3),
                now: start + 10,
                settings: settings
            ) == .reuse
        )
        #expect(
            RefreshDecision.decide(token: token(generation: 1, consumedAt: start), session: session(generation: 3), now: now, settings: settings)
                == .reuse
        )
        #expect(
            RefreshDecision.decide(
                token: token(generation: 2, consumedAt: start, sealed: false),
                session: session(generation: 3),
                now: now,
                settings: settings
            ) == .reuse
        )
        #expect(
            RefreshDecision.decide(token: token(generation: 3), session: session(generation: 3, revoked: true), now: now, settings: settings)
                == .invalid
        )
        #expect(
            RefreshDecision.decide(
                token: token(generation: 2, consumedAt: start),
                session: session(generation: 3, revoked: true),
                now: now,
                settings: settings
            ) == .invalid
        )
        #expect(
            RefreshDecision.decide(token: token(generation: 3), session: session(generation: 3), now: start + 100, settings: settings) == .invalid
        )
        #expect(RefreshDecision.decide(token: token(generation: 2), session: session(generation: 3), now: now, settings: settings) == .invalid)
        // A clock that stepped back counts as inside the grace window, not as reuse.
        #expect(
            RefreshDecision.decide(
                token: token(generation: 2, consumedAt: start + 50),
                session: session(generation: 3),
                now: start + 20,
                settings: settings
            ) == .replay
        )
    }

    /// The write each decision makes, as both stores apply it.
    @Test func outcomesPairEachAnswerWithItsWrite() throws {
        let user = UserRecord(id: "u", username: "ada", passwordHash: "", createdAt: start)
        let presented = RefreshToken.generate()
        let now = start + 5
        let rotate = RefreshDecision.outcome(
            presenting: presented,
            record: token(generation: 3),
            session: session(generation: 3),
            user: user,
            now: now,
            settings: settings
        )
        guard case .issued(let successor, let rotated, _, false) = rotate.result,
            case .rotate(successor, let sealed, rotated, now) = rotate.write
        else {
            Issue.record("\(rotate)")
            return
        }
        #expect(rotated.generation == 4)
        #expect(SuccessorSealing.open(sealed, predecessor: presented, sessionID: "s") == successor, "the replay can open what the rotation sealed")

        let consumed = RefreshTokenRecord(sessionID: "s", generation: 3, issuedAt: start, consumedAt: start, sealedSuccessor: sealed)
        let replay = RefreshDecision.outcome(presenting: presented, record: consumed, session: rotated, user: user, now: now, settings: settings)
        #expect(
            replay.result
                == .issued(
                    successor,
                    session: {
                        var s = rotated
                        s.lastUsedAt = now
                        return s
                    }(),
                    user: user,
                    replayed: true
                )
        )
        #expect(replay.write == .touch(sessionID: "s", lastUsedAt: now))

        let reuse = RefreshDecision.outcome(
            presenting: presented,
            record: consumed,
            session: rotated,
            user: user,
            now: start + 60,
            settings: settings
        )
        #expect(reuse.result == .reused(sessionID: "s"))
        #expect(reuse.write == .revokeForReuse(sessionID: "s", at: start + 60))

        let invalid = RefreshDecision.outcome(
            presenting: presented,
            record: token(generation: 3),
            session: session(generation: 3, revoked: true),
            user: user,
            now: now,
            settings: settings
        )
        #expect(invalid.result == .invalid && invalid.write == nil)
        let unopenable = RefreshDecision.outcome(
            presenting: RefreshToken.generate(),
            record: consumed,
            session: rotated,
            user: user,
            now: now,
            settings: settings
        )
        #expect(unopenable.result == .invalid && unopenable.write == nil, "a successor sealed for another token is never handed out")
    }

    @Test func rotationExtendsTheIdleLimitUpToTheAbsoluteOne() {
        let rotated = RefreshDecision.rotated(session(generation: 0), now: start + 950, settings: settings)
        #expect(rotated.generation == 1)
        #expect(rotated.lastUsedAt == start + 950)
        #expect(rotated.idleExpiresAt == start + 1_000)
    }

    @Test func successorsOpenOnlyWithTheirPredecessorAndSession() throws {
        let predecessor = RefreshToken.generate()
        let successor = RefreshToken.generate()
        let sealed = SuccessorSealing.seal(successor, predecessor: predecessor, sessionID: "s_1")
        #expect(SuccessorSealing.open(sealed, predecessor: predecessor, sessionID: "s_1") == successor)
        #expect(SuccessorSealing.open(sealed, predecessor: RefreshToken.generate(), sessionID: "s_1") == nil)
        #expect(SuccessorSealing.open(sealed, predecessor: predecessor, sessionID: "s_2") == nil)
        var tampered = sealed
        tampered[20] ^= 1
        #expect(SuccessorSealing.open(tampered, predecessor: predecessor, sessionID: "s_1") == nil)
        #expect(!sealed.containsSubsequence(Array(successor.value.utf8)), "nothing usable in the clear")
        #expect("\(successor)" == "rt_<redacted>")
    }
}

extension Array where Element == UInt8 {
    func containsSubsequence(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { Array(self[$0..<($0 + needle.count)]) == needle }
    }
}
