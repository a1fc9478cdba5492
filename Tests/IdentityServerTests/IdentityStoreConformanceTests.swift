import AuthStackCore
import AuthStackTestSupport
import Foundation
import Testing

@testable import IdentityServer

/// The ``IdentityStore`` contract, the same cases on SQLite and PostgreSQL: users unique case-insensitively, the
/// refresh protocol's rotation, replay and reuse applied atomically however many requests race, sessions, throttle
/// counters that lose no update, and pruning.
@Suite(.timeLimit(.minutes(2))) struct IdentityStoreConformanceTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let settings = RefreshSettings(idleLifetime: 100, absoluteLifetime: 1_000, graceWindow: 10)

    func user(_ name: String, id: String? = nil) -> UserRecord {
        UserRecord(id: id ?? RandomID.make("u_"), username: name, passwordHash: "hash-of-\(name)", createdAt: t0.addingTimeInterval(0.125))
    }

    /// A user with one live session; returns the session and its first refresh token.
    func signedUp(_ name: String, in store: any IdentityStore, at time: Date? = nil) async throws -> (SessionRecord, RefreshToken) {
        let record = user(name)
        try await store.createUser(record)
        let now = time ?? t0
        let session = SessionRecord(
            id: RandomID.make("s_"),
            userID: record.id,
            generation: 0,
            createdAt: now,
            lastUsedAt: now,
            idleExpiresAt: now.addingTimeInterval(settings.idleLifetime),
            absoluteExpiresAt: now.addingTimeInterval(settings.absoluteLifetime),
            userAgent: "tests"
        )
        let token = RefreshToken.generate()
        try await store.createSession(session, firstToken: token)
        return (session, token)
    }

    // MARK: Users

    @Test(arguments: StoreKind.tested)
    func usersAreFoundByKeyAndIDAndUniqueCaseInsensitively(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            let alice = user("Alice")
            try await store.createUser(alice)
            #expect(try await store.user(usernameKey: "alice") == alice, "dates round-trip exactly")
            #expect(try await store.user(id: alice.id) == alice)
            #expect(try await store.user(usernameKey: "bob") == nil)
            await #expect(throws: IdentityStoreError.usernameTaken) { try await store.createUser(user("aLICE")) }
        }
    }

    @Test(arguments: StoreKind.tested)
    func thirtyConcurrentCreatesOfOneUsernameCreateOne(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<30 {
                    let record = user(index % 2 == 0 ? "Popular" : "popular")
                    group.addTask {
                        do {
                            try await store.createUser(record)
                            return true
                        } catch IdentityStoreError.usernameTaken {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
            #expect(outcomes.filter { !$0 }.count == 29, "the rest are usernameTaken, not another error")
        }
    }

    @Test(arguments: StoreKind.tested)
    func importSkipsTakenUsernamesAndIDs(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            let existing = user("existing")
            try await store.createUser(existing)
            let result = try await store.importUsers([user("EXISTING"), user("fresh"), user("other", id: existing.id), user("second")])
            #expect(result.imported == 2)
            #expect(result.skipped == ["EXISTING", "other"])
            #expect(try await store.user(usernameKey: "fresh") != nil)
        }
    }

    @Test(arguments: StoreKind.tested)
    func passwordHashIsReplacedOnlyFromTheExpectedOldOne(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            let carol = user("carol")
            try await store.createUser(carol)
            try await store.replacePasswordHash(userID: carol.id, old: "stale", new: "lost")
            #expect(try await store.user(id: carol.id)?.passwordHash == carol.passwordHash)
            try await store.replacePasswordHash(userID: carol.id, old: carol.passwordHash, new: "rehashed")
            #expect(try await store.user(id: carol.id)?.passwordHash == "rehashed")
        }
    }

    @Test(arguments: StoreKind.tested)
    func aPasswordChangeRevokesEveryOtherSessionOfTheUserInOneStep(kind: StoreKind) async throws {
        let settings = self.settings
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            let (kept, keptToken) = try await signedUp("frank", in: store)
            var other = kept
            other.id = RandomID.make("s_")
            try await store.createSession(other, firstToken: RefreshToken.generate())
            let (stranger, _) = try await signedUp("grace", in: store)
            let hash = "hash-of-frank"
            // A stale old hash changes nothing at all.
            #expect(try await store.changePassword(userID: kept.userID, old: "stale", new: "x", keeping: kept.id, now: t0 + 1) == nil)
            #expect(try await store.liveSessions(userID: kept.userID, now: t0 + 1).count == 2)
            #expect(try await store.changePassword(userID: kept.userID, old: hash, new: "new-hash", keeping: kept.id, now: t0 + 2) == 1)
            #expect(try await store.user(id: kept.userID)?.passwordHash == "new-hash")
            #expect(try await store.liveSessions(userID: kept.userID, now: t0 + 3).map(\.id) == [kept.id], "the caller's session stays")
            #expect(try await store.liveSessions(userID: stranger.userID, now: t0 + 3).count == 1, "another user's sessions stay")
            if case .issued(_, _, _, replayed: false) = try await store.refresh(keptToken, now: t0 + 4, settings: settings) {
            } else {
                Issue.record("the kept session still refreshes")
            }
            // Without a session to keep (a token without `sid`), every session goes.
            #expect(try await store.changePassword(userID: kept.userID, old: "new-hash", new: "newer", keeping: nil, now: t0 + 5) == 1)
            #expect(try await store.liveSessions(userID: kept.userID, now: t0 + 6).isEmpty)
        }
    }

    // MARK: Refresh

    @Test(arguments: StoreKind.tested)
    func refreshRotatesReplaysInsideTheGraceWindowThenDetectsReuse(kind: StoreKind) async throws {
        let settings = self.settings
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            let (session, first) = try await signedUp("rotor", in: store)
            let firstUse = try await store.refresh(first, now: t0 + 1, settings: settings)
            guard case .issued(let successor, let rotated, _, replayed: false) = firstUse else {
                Issue.record("the first refresh rotates")
                return
            }
            #expect(rotated.generation == 1)
            #expect(rotated.idleExpiresAt == t0 + 101)
            guard case .issued(let again, _, _, replayed: true) = try await store.refresh(first, now: t0 + 10, settings: settings) else {
                Issue.record("a retry inside the grace window replays")
                return
            }
            #expect(again == successor)
            #expect(try await store.refresh(first, now: t0 + 11, settings: settings) == .reused(sessionID: session.id))
            #expect(try await store.refresh(successor, now: t0 + 12, settings: settings) == .invalid, "the whole session is revoked")
            #expect(try await store.liveSessions(userID: session.userID, now: t0 + 12).isEmpty)
            #expect(try await store.refresh(RefreshToken.generate(), now: t0, settings: settings) == .invalid)
        }
    }

    @Test(arguments: StoreKind.tested)
    func twentyConcurrentRefreshesWithOneTokenRotateOnceAndShareTheSuccessor(kind: StoreKind) async throws {
        let settings = self.settings
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            // Twice: the first race also opens the pool's connections, the second measures the locking alone.
            for round in ["cold", "warm"] {
                let (_, first) = try await signedUp("racer-\(round)", in: store)
                let started = ContinuousClock.now
                let results = try await withThrowingTaskGroup(of: RefreshResult.self) { group in
                    for _ in 0..<20 { group.addTask { try await store.refresh(first, now: self.t0 + 1, settings: settings) } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let elapsed = ContinuousClock.now - started
                var successors: Set<String> = []
                var rotations = 0
                for result in results {
                    guard case .issued(let token, _, _, let replayed) = result else {
                        Issue.record("every caller gets the successor, got \(result)")
                        continue
                    }
                    successors.insert(token.value)
                    if !replayed { rotations += 1 }
                }
                #expect(rotations == 1, "exactly one rotation")
                #expect(successors.count == 1, "all twenty got the same successor")
                let successorText = try #require(successors.first)
                let successor = try #require(RefreshToken(presented: successorText))
                guard case .issued(_, let session, _, replayed: false) = try await store.refresh(successor, now: t0 + 2, settings: settings) else {
                    Issue.record("the shared successor is the session's live token")
                    return
                }
                #expect(session.generation == 2)
                print("[measure] \(kind): 20 concurrent refreshes of one token, \(round) pool: \(elapsed)")
            }
        }
    }

    // MARK: Sessions

    @Test(arguments: StoreKind.tested)
    func sessionsAreListedMostRecentlyUsedFirstAndRevokedOnlyByTheirOwner(kind: StoreKind) async throws {
        let settings = self.settings
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            let (older, olderToken) = try await signedUp("dave", in: store)
            let (other, _) = try await signedUp("eve", in: store)
            var newer = older
            newer.id = RandomID.make("s_")
            let newerToken = RefreshToken.generate()
            try await store.createSession(newer, firstToken: newerToken)
            _ = try await store.refresh(olderToken, now: t0 + 5, settings: settings)
            #expect(try await store.liveSessions(userID: older.userID, now: t0 + 6).map(\.id) == [older.id, newer.id])
            #expect(try await store.revokeSession(id: newer.id, userID: other.userID, now: t0 + 6) == false, "not eve's session")
            #expect(try await store.revokeSession(id: newer.id, userID: older.userID, now: t0 + 6))
            #expect(try await store.revokeSession(id: newer.id, userID: older.userID, now: t0 + 6) == false, "already revoked")
            #expect(try await store.revokeSession(of: olderToken, now: t0 + 7), "a consumed token still names its session")
            #expect(try await store.revokeSession(of: olderToken, now: t0 + 7) == false)
            #expect(try await store.liveSessions(userID: older.userID, now: t0 + 8).isEmpty)
            #expect(try await store.revokeAllSessions(userID: other.userID, now: t0 + 8) == 1)
            #expect(try await store.revokeAllSessions(userID: other.userID, now: t0 + 8) == 0)
        }
    }

    /// Sessions last used at the same time come in the same order on both backends — their ids byte by byte — even
    /// when PostgreSQL's default collation is not byte order (ICU `en-US` puts `a` before `B` and ignores `-` and `_`).
    @Test(.enabled(if: !TestPostgres.optedOut, "AUTHSTACK_TEST_POSTGRES=off"))
    func bothBackendsListSessionsUsedAtTheSameTimeInTheSameOrder() async throws {
        let ids = ["s_bx", "s_-x", "s_Zx", "s__x", "s_ax", "s_0x", "s_Bx", "s_Ax", "s_a-x", "s_ab"]
        let t0 = self.t0
        let frank = user("frank")
        var listed: [StoreKind: [String]] = [:]
        for kind in StoreKind.allCases {
            listed[kind] = try await TestDatabase.with(kind, postgresOptions: TestPostgres.icuCollation) { database in
                let store = try await database.identityStore()
                try await store.createUser(frank)
                for id in ids {
                    let session = SessionRecord(
                        id: id,
                        userID: frank.id,
                        generation: 0,
                        createdAt: t0,
                        lastUsedAt: t0,
                        idleExpiresAt: t0 + 100,
                        absoluteExpiresAt: t0 + 1_000,
                        userAgent: nil
                    )
                    try await store.createSession(session, firstToken: RefreshToken.generate())
                }
                return try await store.liveSessions(userID: frank.id, now: t0 + 1).map(\.id)
            }
        }
        #expect(listed[.sqlite] == ids.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        #expect(listed[.postgres] == listed[.sqlite])
    }

    // MARK: Throttling

    @Test(arguments: StoreKind.tested)
    func fixedWindowAdmitsUpToTheLimitThenRefusesUntilItEnds(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            for _ in 0..<3 { #expect(try await store.admit("signup:1.2.3.4", limit: 3, window: 60, now: t0) == .admitted) }
            #expect(try await store.admit("signup:1.2.3.4", limit: 3, window: 60, now: t0 + 20) == .throttled(retryAfter: 40))
            #expect(try await store.admit("signup:1.2.3.4", limit: 3, window: 60, now: t0 + 60) == .admitted)
        }
    }

    @Test(arguments: StoreKind.tested)
    func concurrentAdmissionsAdmitExactlyTheLimit(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            let admitted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<40 { group.addTask { try await store.admit("refresh:5.6.7.8", limit: 15, window: 60, now: t0) == .admitted } }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(admitted == 15)
            // A clock stepped back behind the window's start starts a new window, as the policy says.
            #expect(try await store.admit("refresh:5.6.7.8", limit: 15, window: 60, now: t0 - 30) == .admitted)
            #expect(try await store.admit("other:key", limit: 0, window: 60, now: t0) == .throttled(retryAfter: 60))
        }
    }

    @Test(arguments: StoreKind.tested)
    func concurrentLoginAttemptsLoseNoCount(kind: StoreKind) async throws {
        let throttle = ThrottleSettings(accountFreeFailures: 1_000, loginFailuresPerAddress: 10)
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            let admitted = try await withThrowingTaskGroup(of: Admission.self) { group in
                for index in 0..<25 {
                    group.addTask {
                        try await store.admitLogin(
                            accountKey: "account:\(index % 3)",
                            addressKey: "address:9.9.9.9",
                            settings: throttle,
                            now: self.t0
                        )
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }.filter { $0 == .admitted }.count
            }
            #expect(admitted == 10, "the address limit holds under concurrency")
            // A success takes one attempt back from the address and clears the account.
            try await store.recordLoginSuccess(accountKey: "account:0", addressKey: "address:9.9.9.9")
            #expect(try await store.admitLogin(accountKey: "account:0", addressKey: "address:9.9.9.9", settings: throttle, now: t0 + 1) == .admitted)
            #expect(try await store.admitLogin(accountKey: "account:0", addressKey: "address:9.9.9.9", settings: throttle, now: t0 + 1) != .admitted)
        }
    }

    @Test(arguments: StoreKind.tested)
    func accountBackoffStartsAfterTheFreeFailuresAndASuccessResetsIt(kind: StoreKind) async throws {
        let throttle = ThrottleSettings(accountFreeFailures: 2)
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            for _ in 0..<2 { #expect(try await store.admitLogin(accountKey: "a", addressKey: "ip", settings: throttle, now: t0) == .admitted) }
            #expect(try await store.admitLogin(accountKey: "a", addressKey: "ip", settings: throttle, now: t0) == .throttled(retryAfter: 1))
            #expect(try await store.admitLogin(accountKey: "a", addressKey: "ip", settings: throttle, now: t0 + 1) == .admitted)
            #expect(try await store.admitLogin(accountKey: "a", addressKey: "ip", settings: throttle, now: t0 + 1) == .throttled(retryAfter: 2))
            try await store.recordLoginSuccess(accountKey: "a", addressKey: "ip")
            #expect(try await store.admitLogin(accountKey: "a", addressKey: "ip", settings: throttle, now: t0 + 1) == .admitted)
        }
    }

    @Test(arguments: StoreKind.tested)
    func aRefreshRefusedByItsAdmissionLimitConsumesNothing(kind: StoreKind) async throws {
        let settings = self.settings
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            let (_, first) = try await signedUp("limited", in: store)
            let limit = RefreshAdmission(key: "refresh:ip", limit: 1, window: 60)
            guard case .issued(let second, _, _, replayed: false) = try await store.refresh(first, admission: limit, now: t0 + 1, settings: settings)
            else {
                Issue.record("the first refresh is admitted and rotates")
                return
            }
            #expect(try await store.refresh(second, admission: limit, now: t0 + 2, settings: settings) == .throttled(retryAfter: 59))
            // A new window admits again, and the refused refresh left `second` unused: it rotates, not replays.
            guard case .issued(_, _, _, replayed: false) = try await store.refresh(second, admission: limit, now: t0 + 61, settings: settings) else {
                Issue.record("the refused refresh must not have consumed the token")
                return
            }
        }
    }

    @Test(arguments: StoreKind.tested)
    func aRefundedAttemptNoLongerCountsButRealFailuresKeepTheirWait(kind: StoreKind) async throws {
        let throttle = ThrottleSettings(accountFreeFailures: 2, loginFailuresPerAddress: 3)
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            for _ in 0..<2 { #expect(try await store.admitLogin(accountKey: "a", addressKey: "ip", settings: throttle, now: t0) == .admitted) }
            #expect(try await store.admitLogin(accountKey: "a", addressKey: "ip", settings: throttle, now: t0) != .admitted)
            // The second attempt was shed: taking it back lifts the wait it had earned, and frees one address slot.
            try await store.refundLoginAttempt(accountKey: "a", addressKey: "ip", settings: throttle)
            #expect(try await store.admitLogin(accountKey: "a", addressKey: "ip", settings: throttle, now: t0) == .admitted)
            #expect(try await store.admitLogin(accountKey: "b", addressKey: "ip", settings: throttle, now: t0) == .admitted, "the address's third")
            #expect(
                try await store.admitLogin(accountKey: "d", addressKey: "ip", settings: throttle, now: t0) != .admitted,
                "address limit 3 reached"
            )
            // A refund on an account with more real failures than the free ones leaves its wait in place.
            for second in 1...3 {
                _ = try await store.admitLogin(accountKey: "c", addressKey: "ip2", settings: throttle, now: t0 + Double(second * 100))
            }
            try await store.refundLoginAttempt(accountKey: "c", addressKey: "ip2", settings: throttle)
            #expect(try await store.admitLogin(accountKey: "c", addressKey: "ip2", settings: throttle, now: t0 + 300) != .admitted)
            // Refunding a key that has no counter is harmless.
            try await store.refundLoginAttempt(accountKey: "never", addressKey: "nowhere", settings: throttle)
        }
    }

    // MARK: Maintenance

    @Test(arguments: StoreKind.tested)
    func pruneRemovesEndedSessionsAndSpentCountersOnly(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            let (ended, endedToken) = try await signedUp("gone", in: store)
            _ = try await store.revokeSession(of: endedToken, now: t0)
            let (live, liveToken) = try await signedUp("kept", in: store, at: t0 + 2_000)
            _ = try await store.admit("old-window", limit: 5, window: 60, now: t0)
            _ = try await store.admit("new-window", limit: 5, window: 60, now: t0 + 2_000)
            #expect(try await store.prune(now: t0 + 2_001, retention: 1_000, longestWindow: 900, accountMemory: 86_400) == 2)
            #expect(try await store.revokeSession(id: ended.id, userID: ended.userID, now: t0 + 2_001) == false)
            #expect(try await store.liveSessions(userID: live.userID, now: t0 + 2_001).map(\.id) == [live.id])
            #expect(try await store.refresh(liveToken, now: t0 + 2_001, settings: settings) != .invalid)
            #expect(try await store.admit("new-window", limit: 1, window: 60, now: t0 + 2_001) != .admitted, "the live counter was kept")
            #expect(await store.isReachable())
        }
    }

    /// An account's failure streak outlives the address window: the prune forgets it only after `accountMemory`
    /// without an attempt, never because its first failure is old (which handed back the free guesses every 15–25
    /// minutes). Only a success resets it sooner.
    @Test(arguments: StoreKind.tested)
    func pruneKeepsAnAccountsStreakUntilASuccessOrItsMemoryEnds(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let store = try await database.identityStore()
            let throttle = ThrottleSettings()
            let account = ThrottleKey.account("victim")
            var now = t0
            // Seven failures over time: five free, then waits of 1 s and 2 s.
            for _ in 0..<7 {
                #expect(try await store.admitLogin(accountKey: account, addressKey: "addr", settings: throttle, now: now) == .admitted)
                now += 3
            }
            // 25 minutes later, past the 900 s window and the 4 s wait: the old prune deleted the streak here.
            now += 1_500
            _ = try await store.prune(now: now, retention: 86_400, longestWindow: 900, accountMemory: throttle.accountMemory)
            #expect(try await store.admitLogin(accountKey: account, addressKey: "addr", settings: throttle, now: now) == .admitted)
            let next = try await store.admitLogin(accountKey: account, addressKey: "addr", settings: throttle, now: now)
            #expect(next == .throttled(retryAfter: 8), "the eighth failure earned an 8 s wait: the streak was kept")
            // A day without an attempt forgets it.
            now += throttle.accountMemory + 1_000
            #expect(try await store.prune(now: now, retention: 86_400, longestWindow: 900, accountMemory: throttle.accountMemory) >= 1)
            for _ in 0..<5 {
                #expect(try await store.admitLogin(accountKey: account, addressKey: "addr2", settings: throttle, now: now) == .admitted)
            }
        }
    }
}
