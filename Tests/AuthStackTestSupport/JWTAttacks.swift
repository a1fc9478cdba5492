import AuthStackCore
import Crypto
import Foundation

/// The attack classes of the OWASP JWT cheat sheet and RFC 8725, as tokens that both verifying services (notes
/// `GET /notes`, identity `GET /me`) must answer with 401 `invalid_token` — never 2xx, never 5xx. Each service's
/// `JWTAttackTests` sends them over HTTP.
package enum JWTAttacks {
    /// A keyring both services hold; `secret` is the real current key.
    package static let now = Date(timeIntervalSince1970: 1_800_000_000)
    package static let secret = SecretBytes((0..<32).map { UInt8($0) &* 7 &+ 1 })
    package static let keyring = try! Keyring(
        version: 1,
        keys: [
            KeyringKey(kid: "k-current", secret: secret, status: .current, createdAt: now, activatedAt: now),
            KeyringKey(kid: "k-next", secret: SecretBytes((0..<32).map { UInt8($0) &+ 100 }), status: .next, createdAt: now),
        ]
    )

    package static func b64(_ text: String) -> String { Base64URL.encode(Array(text.utf8)) }

    package static func mac(_ input: String, key: [UInt8]) -> String {
        Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: key))))
    }

    package static let claims =
        #"{"iss":"authstack","aud":["identity","notes"],"sub":"u_attacker","username":"mallory","sid":"s_1","iat":1800000000,"exp":1800000900}"#

    /// `header.payload.HMAC(key)` with any header and payload text.
    package static func token(header: String, payload: String = claims, key: [UInt8] = secret.bytes) -> String {
        let input = b64(header) + "." + b64(payload)
        return input + "." + mac(input, key: key)
    }

    package static let valid = token(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k-current"}"#)

    /// Every forged or malformed token, with what it tries.
    package static var attacks: [(String, String)] {
        var list: [(String, String)] = []
        let input = { (header: String) in b64(header) + "." + b64(claims) }
        for alg in ["none", "None", "NONE", "nOnE"] {
            list.append(("alg \(alg), no signature", input(#"{"alg":"\#(alg)","typ":"at+jwt","kid":"k-current"}"#) + "."))
            list.append(("alg \(alg), a real MAC", token(header: #"{"alg":"\#(alg)","typ":"at+jwt","kid":"k-current"}"#)))
        }
        for alg in ["HS384", "HS512", "RS256", "ES256", "PS256", "EdDSA", "hs256", "HS256 ", "", "HS2560"] {
            list.append(("alg swapped to \(alg.debugDescription)", token(header: #"{"alg":"\#(alg)","typ":"at+jwt","kid":"k-current"}"#)))
        }
        list.append(("alg missing", token(header: #"{"typ":"at+jwt","kid":"k-current"}"#)))
        list.append(("alg as an array", token(header: #"{"alg":["HS256"],"typ":"at+jwt","kid":"k-current"}"#)))
        list.append(("empty key", token(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k-current"}"#, key: [])))
        list.append(("weak key", token(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k-current"}"#, key: Array("secret".utf8))))
        list.append(("the next key's kid with the current key's MAC", token(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k-next"}"#)))
        for kid in ["../../../../dev/null", "' OR '1'='1", "k-current\\u0000", "k-current ", String(repeating: "k", count: 5_000), "K-CURRENT"] {
            list.append(("kid injection \(kid.prefix(24).debugDescription)", token(header: #"{"alg":"HS256","typ":"at+jwt","kid":"\#(kid)"}"#)))
        }
        list.append(("kid as a number", token(header: #"{"alg":"HS256","typ":"at+jwt","kid":1}"#)))
        list.append(("kid missing", token(header: #"{"alg":"HS256","typ":"at+jwt"}"#)))
        let attackerKey = Array(repeating: UInt8(0x41), count: 32)
        let attackerJWK = #"{"kty":"oct","k":"\#(Base64URL.encode(attackerKey))"}"#
        for (name, extra) in [
            ("jwk", attackerJWK), ("jku", #""https://evil.example/jwks.json""#), ("x5u", #""https://evil.example/cert.pem""#),
            ("x5c", #"["MIIB"]"#),
        ] {
            list.append(
                (
                    "\(name) header, signed with the attacker's key",
                    token(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k-current","\#(name)":\#(extra)}"#, key: attackerKey)
                )
            )
        }
        list.append(("crit naming exp", token(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k-current","crit":["exp"]}"#)))
        list.append(("empty crit", token(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k-current","crit":[]}"#)))
        list.append(("b64:false", token(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k-current","b64":false,"crit":["b64"]}"#)))
        list.append(("b64:false without crit", token(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k-current","b64":false}"#)))
        list.append(("duplicate alg, none last", token(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k-current","alg":"none"}"#)))
        list.append(("duplicate kid", token(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k-next","kid":"k-current"}"#)))
        list.append(("wrong typ", token(header: #"{"alg":"HS256","typ":"JWT","kid":"k-current"}"#)))
        let header = #"{"alg":"HS256","typ":"at+jwt","kid":"k-current"}"#
        list.append(
            (
                "duplicate sub in the payload",
                token(header: header, payload: claims.replacingOccurrences(of: #""sub":"u_attacker""#, with: #""sub":"u_victim","sub":"u_attacker""#))
            )
        )
        for exp in ["1e400", "NaN", "Infinity", "-Infinity", #""1800000900""#, "9007199254740993", "null"] {
            list.append(("exp \(exp)", token(header: header, payload: claims.replacingOccurrences(of: "\"exp\":1800000900", with: "\"exp\":\(exp)"))))
        }
        list.append(("payload not an object", token(header: header, payload: "[1,2,3]")))
        list.append(
            (
                "oversized token (9 KiB)",
                token(header: header, payload: claims.dropLast() + #","pad":""# + String(repeating: "x", count: 9_000) + #""}"#)
            )
        )
        list.append(("signature stripped", String(valid[..<valid.lastIndex(of: ".")!]) + "."))
        list.append(("padding in the signature", valid + "="))
        list.append(("four segments", valid + ".x"))
        list.append(("standard base64 alphabet", valid.replacingOccurrences(of: "_", with: "/").replacingOccurrences(of: "-", with: "+") + "+/"))
        list.append(("one bit of the MAC flipped", String(valid.dropLast()) + (valid.last == "A" ? "B" : "A")))
        return list
    }
}
