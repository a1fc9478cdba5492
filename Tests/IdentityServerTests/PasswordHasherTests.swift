import AuthStackCore
import Foundation
import Synchronization
import Testing

@testable import IdentityServer

/// scrypt hashing, bcrypt import verification and the hashing pool (docs/design.md §6). Cheap parameters keep it fast.
@Suite struct PasswordHasherTests {
    static let cheap = ScryptParameters(logN: 4, blockSize: 8, parallelism: 1)
    let hasher = try! PasswordHasher(parameters: Self.cheap)

    @Test func hashIsAPHCStringCarryingItsParameters() throws {
        let hash = try hasher.hash("correct horse battery staple")
        #expect(hash.hasPrefix("$scrypt$ln=4,r=8,p=1$"))
        let parts = hash.split(separator: "$")
        #expect(parts.count == 4)
        #expect(Base64URL.decodeStandardUnpadded(parts[2])?.count == 16)
        #expect(Base64URL.decodeStandardUnpadded(parts[3])?.count == 32)
    }

    @Test func rightPasswordMatchesWrongOneDoesNot() throws {
        let hash = try hasher.hash("correct horse battery staple")
        #expect(hasher.verify("correct horse battery staple", against: hash) == .match(needsRehash: false))
        #expect(hasher.verify("correct horse battery stapl", against: hash) == .mismatch)
        #expect(hasher.verify("", against: hash) == .mismatch)
    }

    @Test func saltsAreUnique() throws {
        #expect(try hasher.hash("same password") != hasher.hash("same password"))
    }

    @Test func hashWithOtherParametersMatchesAndAsksForRehash() throws {
        let old = try PasswordHasher(parameters: ScryptParameters(logN: 5, blockSize: 8, parallelism: 1))
        let hash = try old.hash("password one")
        #expect(hasher.verify("password one", against: hash) == .match(needsRehash: true))
    }

    @Test func passwordIsNFKCNormalisedBeforeHashing() throws {
        // "Å" as one precomposed scalar vs "A" + combining ring; the ligature "ﬁ" vs "fi".
        let hash = try hasher.hash("p\u{00C5}ss\u{FB01}")
        #expect(hasher.verify("pA\u{030A}ssfi", against: hash) == .match(needsRehash: false))
    }

    @Test func hashFromAnIndependentScryptVerifies() throws {
        // Python's hashlib.scrypt (OpenSSL): scrypt("correct horse battery staple", "0123456789abcdef", N=1024, r=8, p=2, 32).
        let expected: [UInt8] = [
            42, 21, 185, 40, 176, 2, 165, 244, 117, 29, 26, 146, 61, 216, 60, 56,
            49, 194, 246, 124, 225, 166, 253, 4, 28, 74, 159, 194, 110, 70, 37, 126,
        ]
        let salt = Base64URL.encodeStandardUnpadded(Array("0123456789abcdef".utf8))
        let phc = "$scrypt$ln=10,r=8,p=2$\(salt)$\(Base64URL.encodeStandardUnpadded(expected))"
        #expect(hasher.verify("correct horse battery staple", against: phc) == .match(needsRehash: true))
        #expect(hasher.verify("correct horse battery stapler", against: phc) == .mismatch)
    }

    @Test(arguments: [
        ("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
        ("correct horse", "$2a$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e"),
        ("correct horse", "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e"),
        ("correct horse", "$2y$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e"),
        ("pässwörd", "$2b$05$abcdefghijklmnopqrstuuZVEMa1pjhlynBQ1qXmSvGBJpN9h1w8G"),
    ])
    func importedBcryptHashesVerifyAndAskForRehash(password: String, hash: String) {
        #expect(hasher.verify(password, against: hash) == .match(needsRehash: true))
        #expect(hasher.verify(password + "x", against: hash) == .mismatch)
    }

    /// bcrypt reads 72 bytes: `'A'*72 + 'x'` would match the hash of `'A'*72 + 'y'` (libxcrypt says so) and the rehash
    /// after the login would then lock the owner out. Over 72 bytes, a bcrypt hash never matches.
    @Test func aPasswordOver72BytesNeverMatchesABcryptHash() throws {
        let hash = "$2b$04$abcdefghijklmnopqrstuusBdtCq5VHp1ZWh/QwIMafig7GoIpK9C"  // bcrypt of "A" × 72 + "y"
        #expect(BcryptVerifier.verify(String(repeating: "A", count: 72) + "x", against: hash), "the truncation this guards against")
        #expect(hasher.verify(String(repeating: "A", count: 72) + "x", against: hash) == .mismatch)
        #expect(hasher.verify(String(repeating: "A", count: 72) + "y", against: hash) == .mismatch, "not even the original")
        #expect(hasher.verify(String(repeating: "A", count: 72), against: hash) == .match(needsRehash: true), "72 bytes still verify")
    }

    /// Every login pays one scrypt at the configured parameters, whatever the stored hash: no timing class for
    /// imported bcrypt users or older scrypt parameters (checked by counting derivations, never by timing).
    @Test func everyVerificationPaysTheConfiguredCostWhateverTheStoredHash() throws {
        let derivations = Mutex<[ScryptParameters]>([])
        var observed = hasher
        observed.derivationObserver = { parameters in derivations.withLock { $0.append(parameters) } }
        let older = try PasswordHasher(parameters: ScryptParameters(logN: 2, blockSize: 8, parallelism: 1)).hash("correct horse")
        let stored: [(String, String)] = [
            ("current scrypt", try hasher.hash("correct horse")),
            ("older scrypt", older),
            ("bcrypt $2b$04", "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e"),
            ("bcrypt over 72 bytes", "$2b$04$abcdefghijklmnopqrstuusBdtCq5VHp1ZWh/QwIMafig7GoIpK9C"),
            ("unparseable", "plain"),
        ]
        for (kind, hash) in stored {
            for password in ["correct horse", "wrong horse", String(repeating: "A", count: 80)] {
                derivations.withLock { $0.removeAll() }
                _ = observed.verify(password, against: hash)
                #expect(derivations.withLock { $0.filter { $0 == Self.cheap }.count } >= 1, "\(kind), \(password.prefix(12))")
            }
        }
        derivations.withLock { $0.removeAll() }
        _ = observed.verifyUnknownUser("correct horse")
        #expect(derivations.withLock { $0 } == [Self.cheap], "an unknown user costs exactly one")
    }

    @Test func bcryptPasswordIsCheckedAsSentNotNormalised() {
        // "pässwörd" with combining diaeresis has other bytes than the precomposed form the hash was made from.
        #expect(hasher.verify("pa\u{0308}sswo\u{0308}rd", against: "$2b$05$abcdefghijklmnopqrstuuZVEMa1pjhlynBQ1qXmSvGBJpN9h1w8G") == .mismatch)
    }

    @Test func passwordWithNULNeverVerifiesAgainstBcrypt() {
        #expect(hasher.verify("correct horse\u{0}anything", against: "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e") == .mismatch)
    }

    @Test(arguments: [
        "", "plain", "$scrypt$ln=4,r=8$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$scrypt$ln=30,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$scrypt$ln=4,r=8,p=1,ln=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$scrypt$ln=4,r=8,p=1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA",
        "$2x$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e", "$2b$31$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6e",
        "$2b$04$abcdefghijklmnopqrstuujydOTSfIH/d5oUHpsygqV5X9xJLQc6", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
    ])
    func unusableStoredHashNeverMatches(stored: String) {
        #expect(hasher.verify("whatever password", against: stored) == .mismatch)
    }

    @Test func dummyHashHasTheConfiguredCost() throws {
        let parsed = try #require(StoredPasswordHash(hasher.dummyHash))
        guard case .scrypt(let parameters, _, let hash) = parsed else {
            Issue.record("not scrypt")
            return
        }
        #expect(parameters == Self.cheap)
        #expect(hash.count == PasswordHasher.hashLength)
        #expect(hasher.verifyUnknownUser("anything at all") == .mismatch)
    }

    @Test func owaspDefaultsAreTheDocumentedOnes() {
        #expect(ScryptParameters.owasp == ScryptParameters(logN: 17, blockSize: 8, parallelism: 1))
        #expect(ScryptParameters.owasp.memoryBytes == 128 * 1024 * 1024)
    }

    @Test func outOfBoundsParametersAreRefused() {
        #expect(throws: PasswordHashingError.unacceptableParameters) {
            try PasswordHasher(parameters: ScryptParameters(logN: 25, blockSize: 8, parallelism: 1))
        }
    }
}

@Suite struct PasswordHashingPoolTests {
    @Test func hashesAndVerifiesOffTheCallerThread() async throws {
        let pool = PasswordHashingPool(hasher: try PasswordHasher(parameters: PasswordHasherTests.cheap), maximumConcurrent: 2, maximumQueued: 4)
        let hash = try await pool.hash("a long enough password")
        #expect(try await pool.verify("a long enough password", against: hash) == .match(needsRehash: false))
        #expect(try await pool.verifyUnknownUser("a long enough password") == .mismatch)
    }

    @Test func callsBeyondCapAndQueueAreShedWithRetryAfter() async throws {
        // logN 14 makes each hash slow enough (~tens of ms) that 12 simultaneous calls overrun 1 running + 2 queued.
        let hasher = try PasswordHasher(parameters: ScryptParameters(logN: 14, blockSize: 8, parallelism: 1))
        let pool = PasswordHashingPool(hasher: hasher, maximumConcurrent: 1, maximumQueued: 2)
        let outcomes = await withTaskGroup(of: String.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    do {
                        _ = try await pool.hash("password password")
                        return "ok"
                    } catch PasswordHashingError.overloaded(let retryAfter) {
                        return retryAfter >= 1 ? "shed" : "bad retry"
                    } catch {
                        return "error"
                    }
                }
            }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == "ok" }.count >= 3)
        #expect(outcomes.filter { $0 == "shed" }.count >= 1)
        #expect(outcomes.allSatisfy { $0 == "ok" || $0 == "shed" })
        #expect(pool.inFlight == 0)
    }
}
