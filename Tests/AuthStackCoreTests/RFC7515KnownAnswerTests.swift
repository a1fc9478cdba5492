import AuthStackCore
import Foundation
import Testing

/// RFC 7515 Appendix A.1: the HS256 example, checked byte for byte.
@Suite struct RFC7515KnownAnswerTests {
    static let jwkK = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
    static let token =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
        + ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
        + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

    @Test func headerAndPayloadDecodeToTheRFCOctets() throws {
        let parts = Self.token.split(separator: ".")
        let header = try #require(Base64URL.decode(parts[0]))
        #expect(header == Array("{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}".utf8))
        let payload = try #require(Base64URL.decode(parts[1]))
        #expect(payload == Array("{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}".utf8))
    }

    @Test func macOverTheSigningInputEqualsTheRFCSignature() throws {
        let secret = try #require(Base64URL.decode(Self.jwkK))
        let key = try HS256Key(kid: "rfc7515-a1", secret: SecretBytes(secret))
        let signingInput = Self.token.split(separator: ".")[0...1].joined(separator: ".")
        let mac = Array(signingInput.utf8).withUnsafeBytes { key.authenticationCode(for: $0) }
        #expect(
            Array(mac) == [
                116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
                22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
            ]
        )
        #expect(Base64URL.encode(Array(mac)) == "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    }

    @Test func policyStillRejectsTheExampleForItsTypeAndMissingKid() throws {
        // The example is a valid JWS but not an AuthStack access token: `typ` is JWT and there is no `kid`.
        let secret = try #require(Base64URL.decode(Self.jwkK))
        let keys = VerificationKeySet([try HS256Key(kid: "rfc7515-a1", secret: SecretBytes(secret))])
        let verifier = AccessTokenVerifier(policy: TokenVerificationPolicy(issuer: "joe", audience: "notes"))
        #expect(throws: TokenRejection.wrongType) {
            try verifier.verify(Self.token, keys: keys, now: Date(timeIntervalSince1970: 1_300_819_000))
        }
    }
}
