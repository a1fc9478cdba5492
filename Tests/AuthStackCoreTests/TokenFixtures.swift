import AuthStackCore
import Crypto
import Foundation

/// Builds tokens for tests, including deliberately malformed ones, with an independent HMAC (swift-crypto's one-shot
/// API, not the verifier's pre-keyed state).
enum TokenFixtures {
    static let secret = SecretBytes(Array(repeating: 0x4B, count: 32))
    static let otherSecret = SecretBytes(Array(repeating: 0x2A, count: 32))
    static let kid = "k2026-11-a"
    static let now: Double = 1_800_000_000
    static var nowDate: Date { Date(timeIntervalSince1970: now) }

    static func key(_ kid: String = kid, _ secret: SecretBytes = secret) -> HS256Key {
        try! HS256Key(kid: kid, secret: secret)
    }

    static var keys: VerificationKeySet { VerificationKeySet([key()]) }

    static var notesVerifier: AccessTokenVerifier {
        AccessTokenVerifier(policy: TokenVerificationPolicy(issuer: "authstack", audience: "notes", leeway: 30))
    }

    static let header = #"{"alg":"HS256","typ":"at+jwt","kid":"k2026-11-a"}"#

    /// A payload that passes every check at ``now``; `replacing` swaps or adds members, `removing` drops them.
    static func payload(replacing: [String: String] = [:], removing: Set<String> = []) -> String {
        var members: [(String, String)] = [
            ("iss", #""authstack""#), ("aud", #"["identity","notes"]"#), ("sub", #""user-1""#), ("username", #""alice""#),
            ("sid", #""session-1""#), ("jti", #""jti-1""#), ("iat", "\(Int(now))"), ("exp", "\(Int(now) + 900)"),
        ]
        for (name, value) in replacing {
            if let index = members.firstIndex(where: { $0.0 == name }) { members[index].1 = value } else { members.append((name, value)) }
        }
        members.removeAll { removing.contains($0.0) }
        return "{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    /// `b64(header).b64(payload).b64(HMAC(secret, signing input))`.
    static func token(header: String = header, payload: String = payload(), secret: SecretBytes = secret) -> String {
        let signingInput = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: SymmetricKey(data: secret.bytes))
        return signingInput + "." + Base64URL.encode(Array(mac))
    }

    /// Verifies with the notes policy at `now` and returns the rejection, or nil when accepted.
    static func rejection(_ token: String, keys: VerificationKeySet = keys, at now: Double = now) -> TokenRejection? {
        do {
            _ = try notesVerifier.verify(token, keys: keys, now: Date(timeIntervalSince1970: now))
            return nil
        } catch {
            return error
        }
    }
}
