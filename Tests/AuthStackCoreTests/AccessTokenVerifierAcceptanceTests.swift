import AuthStackCore
import Foundation
import Testing

/// The accept side of docs/design.md §2: tokens that satisfy every rule are accepted with their claims.
@Suite struct AccessTokenVerifierAcceptanceTests {
    @Test func wellFormedTokenIsAcceptedWithItsClaims() throws {
        let claims = try TokenFixtures.notesVerifier.verify(TokenFixtures.token(), keys: TokenFixtures.keys, now: TokenFixtures.nowDate)
        #expect(claims.subject == "user-1")
        #expect(claims.username == "alice")
        #expect(claims.sessionID == "session-1")
        #expect(claims.tokenID == "jti-1")
        #expect(claims.audience == ["identity", "notes"])
        #expect(claims.expiresAt == TokenFixtures.now + 900)
    }

    @Test func signerOutputVerifies() throws {
        let signer = AccessTokenSigner(issuer: "authstack", audience: ["identity", "notes"], timeToLive: 900)
        let claims = signer.claims(subject: "u-42", username: "bob", sessionID: "s-9", now: TokenFixtures.nowDate)
        let token = signer.sign(claims, with: TokenFixtures.key())
        let verified = try TokenFixtures.notesVerifier.verify(token, keys: TokenFixtures.keys, now: TokenFixtures.nowDate)
        #expect(verified == claims)
        #expect(claims.expiresAt - claims.issuedAt == 900)
        #expect((claims.tokenID?.count ?? 0) >= 22, "jti carries 128 random bits")
    }

    @Test func signerWritesTheSpecifiedHeader() throws {
        let token = AccessTokenSigner().sign(
            AccessTokenSigner().claims(subject: "u", username: "n", sessionID: "s", now: TokenFixtures.nowDate),
            with: TokenFixtures.key()
        )
        let header = try #require(Base64URL.decode(token.split(separator: ".")[0]))
        #expect(String(decoding: header, as: UTF8.self) == #"{"alg":"HS256","typ":"at+jwt","kid":"k2026-11-a"}"#)
    }

    @Test func signerEscapesClaimStrings() throws {
        let signer = AccessTokenSigner()
        var claims = signer.claims(subject: "u\"\\\u{1}", username: "ünï", sessionID: "s", now: TokenFixtures.nowDate)
        claims.issuer = "authstack"
        let verified = try TokenFixtures.notesVerifier.verify(
            signer.sign(claims, with: TokenFixtures.key()),
            keys: TokenFixtures.keys,
            now: TokenFixtures.nowDate
        )
        #expect(verified.subject == "u\"\\\u{1}")
        #expect(verified.username == "ünï")
    }

    @Test func audienceAsSingleStringIsAccepted() {
        #expect(TokenFixtures.rejection(TokenFixtures.token(payload: TokenFixtures.payload(replacing: ["aud": #""notes""#]))) == nil)
    }

    @Test func applicationAtJwtTypeIsAccepted() {
        let header = #"{"alg":"HS256","typ":"application/at+jwt","kid":"k2026-11-a"}"#
        #expect(TokenFixtures.rejection(TokenFixtures.token(header: header)) == nil)
    }

    @Test func typeComparisonIsCaseInsensitiveAsForMediaTypes() {
        let header = #"{"alg":"HS256","typ":"AT+JWT","kid":"k2026-11-a"}"#
        #expect(TokenFixtures.rejection(TokenFixtures.token(header: header)) == nil)
    }

    @Test func optionalClaimsMayBeAbsent() {
        let payload = TokenFixtures.payload(removing: ["username", "sid", "jti"])
        #expect(TokenFixtures.rejection(TokenFixtures.token(payload: payload)) == nil)
    }

    @Test func fractionalNumericDatesAreAccepted() {
        let payload = TokenFixtures.payload(replacing: ["iat": "1800000000.25", "exp": "1800000900.5", "nbf": "1799999999.75"])
        #expect(TokenFixtures.rejection(TokenFixtures.token(payload: payload)) == nil)
    }

    @Test func unknownMembersAreIgnored() {
        let payload = TokenFixtures.payload(replacing: ["scope": #"{"a":[1,2,{"b":null}]}"#, "x": "true"])
        let header = #"{"alg":"HS256","typ":"at+jwt","kid":"k2026-11-a","cty":"x","jku":"https://attacker.example/jwks"}"#
        #expect(TokenFixtures.rejection(TokenFixtures.token(header: header, payload: payload)) == nil)
    }

    @Test func anyHeldKeyVerifies() {
        let keys = VerificationKeySet([TokenFixtures.key("next-key", TokenFixtures.otherSecret), TokenFixtures.key()])
        let header = #"{"alg":"HS256","typ":"at+jwt","kid":"next-key"}"#
        #expect(TokenFixtures.rejection(TokenFixtures.token(header: header, secret: TokenFixtures.otherSecret), keys: keys) == nil)
        #expect(TokenFixtures.rejection(TokenFixtures.token(), keys: keys) == nil)
    }

    @Test func escapedMemberNamesAndValuesAreUnderstood() {
        let header = #"{"\u0061lg":"HS\u0032\u00356","typ":"at+jwt","kid":"k2026-11-a"}"#
        #expect(TokenFixtures.rejection(TokenFixtures.token(header: header)) == nil)
    }

    @Test func verifierIdentifiesItsOwnAudience() {
        let identity = AccessTokenVerifier(policy: TokenVerificationPolicy(audience: "identity"))
        let token = TokenFixtures.token(payload: TokenFixtures.payload(replacing: ["aud": #""identity""#]))
        #expect(throws: Never.self) { try identity.verify(token, keys: TokenFixtures.keys, now: TokenFixtures.nowDate) }
        #expect(TokenFixtures.rejection(token) == .wrongAudience)
    }
}
