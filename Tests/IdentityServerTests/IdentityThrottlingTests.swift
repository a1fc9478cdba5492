import AuthStackCore
import AuthStackHTTP
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import IdentityServer

/// Abuse resistance (docs/design.md §6): per-account backoff and per-address limits kept in the database, counted before
/// the hash runs; load shedding of password hashing.
@Suite struct IdentityThrottlingTests {
    typealias J = IdentityJSON

    @Test func failedLoginsBackOffExponentiallyEvenForTheRightPassword() async throws {
        let fixture = try IdentityFixture()
        try await fixture.application().test(.router) { client in
            _ = try await client.signup("target")
            for _ in 0..<5 { #expect(try await client.login("target", "wrong password").status == .unauthorized) }
            // Five failures: one second's wait, during which even the right password is refused without a hash.
            let hashes = fixture.passwords.completedOperations
            let throttled = try await client.login("TARGET")
            #expect(throttled.status == .tooManyRequests)
            #expect(throttled.headers[.retryAfter] == "1")
            #expect(try J.object(throttled)["code"] as? String == "rate_limited")
            #expect(fixture.passwords.completedOperations == hashes, "a throttled attempt costs no hash")

            fixture.clock.advance(1)
            #expect(try await client.login("target", "still wrong").status == .unauthorized)
            #expect(try await client.login("target").headers[.retryAfter] == "2", "the wait doubles per further failure")
            fixture.clock.advance(2)
            #expect(try await client.login("target").status == .ok, "after the wait the right password works")
            // …and a success resets the count.
            for _ in 0..<4 { #expect(try await client.login("target", "wrong again").status == .unauthorized) }
            #expect(try await client.login("target").status == .ok)
        }
    }

    /// A login's username is a throttle key: a name longer than any sign-up allows (up to the 64 KiB body limit) is a
    /// 400 before any lookup, counter or hash, so it can neither bloat the counters nor cost a hash.
    @Test func aLoginNameOfTheWrongLengthIs400BeforeAnyCounterOrHash() async throws {
        let fixture = try IdentityFixture { $0.throttle.loginFailuresPerAddress = 2 }
        try await fixture.application().test(.router) { client in
            _ = try await client.signup("target")
            let hashes = fixture.passwords.completedOperations
            for name in [String(repeating: "a", count: 33), String(repeating: "é", count: 17), String(repeating: "x", count: 60_000), "ab", ""] {
                let response = try await client.login(name, "wrong password")
                #expect(response.status == .badRequest, "\(name.utf8.count) bytes")
                #expect(try J.object(response)["code"] as? String == "invalid_request")
                #expect(try J.errorFields(response) == ["username"])
            }
            #expect(fixture.passwords.completedOperations == hashes, "no hash ran")
            #expect(try await client.login("target", "wrong password").status == .unauthorized, "the address limit (2) was not touched")
            #expect(try await client.login("target").status == .ok)
        }
    }

    @Test func theWaitIsCappedAtTheMaximum() {
        let settings = ThrottleSettings()
        var counter: ThrottleCounter? = nil
        var now = Date(timeIntervalSince1970: 1_800_000_000)
        for _ in 0..<40 {
            let (admission, next) = ThrottlePolicy.admitAccountAttempt(counter, settings: settings, now: now)
            #expect(admission == .admitted)
            counter = next
            now = next.blockedUntil ?? now
        }
        let blocked = try! #require(counter?.blockedUntil)
        #expect(blocked.timeIntervalSince(now) <= 900)
        let (admission, _) = ThrottlePolicy.admitAccountAttempt(counter, settings: settings, now: now - 1)
        #expect(admission == .throttled(retryAfter: 1))
        // After a clock jump backwards the wait stays within the maximum.
        let (jumped, _) = ThrottlePolicy.admitAccountAttempt(counter, settings: settings, now: now - 100_000)
        #expect(jumped == .throttled(retryAfter: 900))
    }

    @Test func failedLoginsPerAddressAreLimitedAcrossAccounts() async throws {
        let fixture = try IdentityFixture { $0.throttle.loginFailuresPerAddress = 3 }
        try await fixture.application().test(.router) { client in
            _ = try await client.signup("real-user")
            for name in ["aa1", "aa2", "aa3"] { #expect(try await client.login(name).status == .unauthorized) }
            let refused = try await client.login("real-user")
            #expect(refused.status == .tooManyRequests)
            #expect(Int(refused.headers[.retryAfter] ?? "") == 900)
            fixture.clock.advance(900)
            #expect(try await client.login("real-user").status == .ok, "the window ends")
        }
    }

    @Test func successfulLoginsDoNotUseUpTheAddressBudget() async throws {
        let fixture = try IdentityFixture { $0.throttle.loginFailuresPerAddress = 2 }
        try await fixture.application().test(.router) { client in
            _ = try await client.signup("frequent")
            for _ in 0..<5 { #expect(try await client.login("frequent").status == .ok) }
        }
    }

    @Test func signupsAndRefreshesPerAddressAreLimited() async throws {
        let fixture = try IdentityFixture {
            $0.throttle.signupsPerAddressPerMinute = 2
            $0.throttle.refreshesPerAddressPerMinute = 2
        }
        try await fixture.application().test(.router) { client in
            var tokens = try await client.signup("first-1")
            _ = try await client.signup("first-2")
            try await client.execute(uri: "/signup", method: .post, headers: J.jsonHeaders, body: J.credentials("first-3")) { response throws in
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[.retryAfter] == "60")
            }
            tokens = try IssuedTokens(try await client.refresh(tokens.refreshToken))
            tokens = try IssuedTokens(try await client.refresh(tokens.refreshToken))
            let refused = try await client.refresh(tokens.refreshToken)
            #expect(refused.status == .tooManyRequests)
            fixture.clock.advance(60)
            #expect(try await client.refresh(tokens.refreshToken).status == .ok, "a refused refresh did not consume the token")
            _ = try await client.signup("first-3")
        }
    }

    @Test func theHashingQueueShedsLoadWith503() async throws {
        // One slot, no queue: while one hash runs, the next request is refused at once.
        let fixture = try IdentityFixture {
            $0.scrypt = ScryptParameters(logN: 16, blockSize: 8, parallelism: 1)
            $0.hashConcurrency = 1
            $0.hashQueue = 0
        }
        try await fixture.application().test(.router) { client in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<4 {
                    group.addTask {
                        try await client.execute(uri: "/signup", method: .post, headers: J.jsonHeaders, body: J.credentials("load-\(index)")) {
                            $0.status
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.contains(.created))
            #expect(statuses.contains(.serviceUnavailable), "\(statuses)")
            #expect(statuses.allSatisfy { $0 == .created || $0 == .serviceUnavailable })
        }
    }

    /// A login the hashing pool sheds (503) checked no password, so it must not count towards the account's lockout:
    /// otherwise someone else's flood would lock out a user who merely retried.
    @Test func shedLoginsDoNotCountTowardsTheAccountLockout() async throws {
        let fixture = try IdentityFixture {
            $0.scrypt = ScryptParameters(logN: 16, blockSize: 8, parallelism: 1)
            $0.hashConcurrency = 1
            $0.hashQueue = 0
            $0.throttle.accountFreeFailures = 2
        }
        try await fixture.application().test(.router) { client in
            _ = try await client.signup("victim")
            // Another client keeps the only hashing slot busy (signups); the victim's logins in the meantime are shed.
            var shedInARow = 0
            for round in 0..<12 where shedInARow < 3 {
                async let flood = client.execute(uri: "/signup", method: .post, headers: J.jsonHeaders, body: J.credentials("flood-\(round)")) {
                    $0.status
                }
                try await Task.sleep(for: .milliseconds(30))
                let status = try await client.execute(uri: "/login", method: .post, headers: J.jsonHeaders, body: J.credentials("victim")) {
                    $0.status
                }
                #expect(status == .ok || status == .serviceUnavailable, "a shed or correct login is never 429 (round \(round))")
                shedInARow = status == .serviceUnavailable ? shedInARow + 1 : 0
                _ = try await flood
            }
            #expect(shedInARow >= 3, "the pool must have shed more of the victim's logins in a row than the free failures")
            try await client.execute(uri: "/login", method: .post, headers: J.jsonHeaders, body: J.credentials("victim")) { response in
                #expect(response.status == .ok, "three shed logins must not lock the account")
            }
        }
    }

    @Test func configurationReadsAndRejectsVariables() throws {
        let configuration = try IdentityConfiguration(environment: [
            "IDENTITY_REFRESH_GRACE": "0", "IDENTITY_COOKIE_SECURE": "false", "IDENTITY_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
            "IDENTITY_AUDIENCES": "identity,notes,billing", "IDENTITY_SCRYPT_LOG_N": "15",
        ])
        #expect(configuration.refresh.graceWindow == 0)
        #expect(configuration.cookieSecure == false)
        #expect(configuration.trustedProxies == ["10.0.0.0/8", "127.0.0.1"])
        #expect(configuration.audiences == ["identity", "notes", "billing"])
        #expect(configuration.scrypt.logN == 15)
        #expect(configuration.proxySocket == nil)
        #expect(
            try IdentityConfiguration(environment: ["IDENTITY_PROXY_SOCKET": "/run/authstack/identity.sock"]).proxySocket
                == "/run/authstack/identity.sock"
        )
        for (name, value) in [
            ("IDENTITY_COOKIE_SECURE", "maybe"), ("IDENTITY_TRUSTED_PROXIES", "10.0.0.0/40"),
            ("IDENTITY_SCRYPT_LOG_N", "21"), ("IDENTITY_ACCESS_TTL", "-5"), ("IDENTITY_AUDIENCES", "a,,b"),
            ("IDENTITY_KEYS_WAIT", "0"), ("IDENTITY_HASH_CONCURRENCY", "zero"),
            ("IDENTITY_PROXY_SOCKET", "/tmp/" + String(repeating: "s", count: 100)),
        ] {
            #expect(throws: InvalidSetting.self, "\(name)=\(value)") {
                try IdentityConfiguration(environment: [name: value])
            }
        }
    }
}
