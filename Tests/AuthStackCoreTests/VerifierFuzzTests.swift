import AuthStackCore
import AuthStackTestSupport
import Foundation
import Testing

/// Random and mutated tokens against the verifier (issue "reliability", hostile input): it never crashes and never
/// accepts a token the signer did not produce with a held key. Deterministic (seeded); CI runs a short pass, and
/// `AUTHSTACK_FUZZ_ITERATIONS=2000000 swift test --filter VerifierFuzzTests` runs a long one.
@Suite struct VerifierFuzzTests {
    static var iterations: Int { Int(ProcessInfo.processInfo.environment["AUTHSTACK_FUZZ_ITERATIONS"] ?? "") ?? 20_000 }

    /// Characters a mutation inserts: the token alphabet, separators, JSON and encoding troublemakers.
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \"{}\\\u{0}é".utf8)

    static func mutate(_ token: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var bytes = token
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            switch Int.random(in: 0..<6, using: &random) {
            case 0 where !bytes.isEmpty:  // replace one character
                bytes[Int.random(in: 0..<bytes.count, using: &random)] = alphabet.randomElement(using: &random)!
            case 1 where !bytes.isEmpty:  // flip one bit
                bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
            case 2 where !bytes.isEmpty:  // delete a run
                let start = Int.random(in: 0..<bytes.count, using: &random)
                bytes.removeSubrange(start..<min(bytes.count, start + Int.random(in: 1...8, using: &random)))
            case 3:  // insert
                bytes.insert(alphabet.randomElement(using: &random)!, at: Int.random(in: 0...bytes.count, using: &random))
            case 4:  // duplicate a slice (segments repeated, dots doubled)
                guard bytes.count > 2 else { break }
                let start = Int.random(in: 0..<(bytes.count - 1), using: &random)
                let end = Int.random(in: (start + 1)...bytes.count, using: &random)
                bytes.insert(contentsOf: bytes[start..<end], at: Int.random(in: 0...bytes.count, using: &random))
            default:  // swap two segments
                var segments = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
                guard segments.count > 1 else { break }
                segments.swapAt(Int.random(in: 0..<segments.count, using: &random), Int.random(in: 0..<segments.count, using: &random))
                bytes = Array(segments.joined(separator: [UInt8(ascii: ".")]))
            }
        }
        return bytes
    }

    @Test func mutatedTokensAreNeverAcceptedUnlessUnchanged() {
        var random = SplitMix64(seed: 0xA5A5_2026_1129)
        let originals = [
            TokenFixtures.token(),
            TokenFixtures.token(payload: TokenFixtures.payload(replacing: ["aud": #""notes""#, "nbf": "1799999990"])),
            TokenFixtures.token(header: #"{"typ":"application/at+jwt","kid":"k2026-11-a","alg":"HS256"}"#),
        ].map { Array($0.utf8) }
        for original in originals { #expect(TokenFixtures.rejection(String(decoding: original, as: UTF8.self)) == nil) }
        var accepted = 0
        var rejectedBy: [String: Int] = [:]
        for index in 0..<Self.iterations {
            let original = originals[index % originals.count]
            let mutated = Self.mutate(original, &random)
            let text = String(decoding: mutated, as: UTF8.self)
            if let reason = TokenFixtures.rejection(text) {
                rejectedBy["\(reason)".prefix { $0 != "(" }.description, default: 0] += 1
            } else {
                accepted += 1
                #expect(mutated == original, "accepted a token the signer did not produce: \(text)")
            }
        }
        #expect(accepted < Self.iterations / 10, "mutations almost always change the token")
        #expect(rejectedBy.count >= 6, "mutations reach many checks: \(rejectedBy)")
    }

    @Test func randomBytesAreRejectedWithoutACrash() {
        var random = SplitMix64(seed: 0x5EED)
        for _ in 0..<Self.iterations {
            let length = Int.random(in: 0...600, using: &random)
            var bytes = (0..<length).map { _ in Self.alphabet.randomElement(using: &random)! }
            if Bool.random(using: &random), bytes.count > 10 {  // keep the two dots most tokens need to get past the first check
                bytes[bytes.count / 3] = UInt8(ascii: ".")
                bytes[2 * bytes.count / 3] = UInt8(ascii: ".")
            }
            #expect(TokenFixtures.rejection(String(decoding: bytes, as: UTF8.self)) != nil)
        }
    }
}
