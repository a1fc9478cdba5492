import AuthStackCore
import Foundation
import Testing

/// Payload and claim rules of docs/design.md §2, and both sides of every leeway boundary with an injected clock.
@Suite struct AccessTokenVerifierClaimTests {
    typealias F = TokenFixtures

    // MARK: Payload

    @Test(arguments: [
        "{not json", "[]", #""a string""#, #"{"iss":"authstack""#, #"{"a":1}{}"#, "{\"a\":\"\u{1}\"}",
    ])
    func payloadThatIsNotAStrictJSONObjectIsRejected(payload: String) {
        #expect(F.rejection(F.token(payload: payload)) == .malformedPayload)
    }

    @Test func duplicateClaimIsRejected() {
        let payload = F.payload().dropLast() + #","exp":9999999999}"#
        #expect(F.rejection(F.token(payload: String(payload))) == .malformedPayload)
    }

    @Test func duplicateClaimSpelledWithEscapesIsRejected() {
        let payload = F.payload().dropLast() + #","\u0065xp":9999999999}"#
        #expect(F.rejection(F.token(payload: String(payload))) == .malformedPayload)
    }

    @Test func duplicateMemberInsideANestedObjectIsRejected() {
        #expect(F.rejection(F.token(payload: F.payload(replacing: ["ctx": #"{"a":1,"a":2}"#]))) == .malformedPayload)
    }

    @Test func invalidUTF8InPayloadIsRejected() {
        var payload = Array(F.payload(replacing: ["x": "\"AB\""]).utf8)
        let index = payload.firstIndex(of: UInt8(ascii: "B"))!
        payload[index] = 0xC0  // an overlong lead byte never appears in UTF-8
        #expect(F.rejection(rawToken(header: Array(F.header.utf8), payload: payload)) == .malformedPayload)
    }

    @Test func loneSurrogateEscapeIsRejected() {
        #expect(F.rejection(F.token(payload: F.payload(replacing: ["sub": #""\ud800""#]))) == .malformedPayload)
    }

    @Test func excessiveNestingIsRejected() {
        let deepArrays = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        #expect(F.rejection(F.token(payload: F.payload(replacing: ["x": deepArrays]))) == .malformedPayload)
        let deepObjects = String(repeating: "{\"a\":", count: 40) + "1" + String(repeating: "}", count: 40)
        #expect(F.rejection(F.token(payload: F.payload(replacing: ["x": deepObjects]))) == .malformedPayload)
    }

    // MARK: Required claims and types

    @Test(arguments: ["iss", "aud", "sub", "iat", "exp"])
    func missingRequiredClaimIsRejected(claim: String) {
        #expect(F.rejection(F.token(payload: F.payload(removing: [claim]))) == .missingClaim(claim))
    }

    @Test(arguments: [
        ("sub", #""""#), ("sub", "42"), ("sub", "null"), ("sub", #""u_a\u0000b""#), ("sub", #""\u0000""#),
        ("iss", "1"), ("aud", "7"), ("aud", #"["notes",1]"#), ("aud", "{}"),
        ("iat", #""1800000000""#), ("exp", "true"), ("exp", "1e400"), ("exp", "-1e400"), ("exp", "9007199254740992"),
        ("iat", "-9007199254740993"), ("nbf", #""0""#), ("nbf", "null"), ("jti", "1"), ("sid", "[]"), ("username", "false"),
    ])
    func claimOfWrongTypeOrRangeIsRejected(claim: String, value: String) {
        #expect(F.rejection(F.token(payload: F.payload(replacing: [claim: value]))) == .invalidClaim(claim))
    }

    @Test func largestExactNumericDateIsAccepted() {
        #expect(F.rejection(F.token(payload: F.payload(replacing: ["exp": "9007199254740991"]))) == nil)
    }

    // MARK: Issuer and audience

    @Test(arguments: [#""Authstack""#, #""authstack ""#, #""evil""#])
    func wrongIssuerIsRejected(issuer: String) {
        #expect(F.rejection(F.token(payload: F.payload(replacing: ["iss": issuer]))) == .wrongIssuer)
    }

    @Test(arguments: [#""identity""#, #"["identity"]"#, "[]", #""Notes""#, #"["notesx"]"#])
    func audienceWithoutThisServiceIsRejected(audience: String) {
        #expect(F.rejection(F.token(payload: F.payload(replacing: ["aud": audience]))) == .wrongAudience)
    }

    // MARK: Time, with leeway L = 30 s

    @Test func acceptedUntilJustBeforeExpiryPlusLeeway() {
        let exp = F.now + 900
        #expect(F.rejection(F.token(), at: exp + 29.999) == nil)
        #expect(F.rejection(F.token(), at: exp) == nil)
    }

    @Test func expiredAtExactlyExpiryPlusLeeway() {
        let exp = F.now + 900
        #expect(F.rejection(F.token(), at: exp + 30) == .expired)
        #expect(TokenRejection.expired.problemCode == .tokenExpired)
    }

    @Test func issuedAtUpToLeewayInTheFutureIsAccepted() {
        let token = F.token(payload: F.payload(replacing: ["iat": "\(Int(F.now) + 30)"]))
        #expect(F.rejection(token) == nil)
    }

    @Test func issuedAtBeyondLeewayInTheFutureIsRejected() {
        let token = F.token(payload: F.payload(replacing: ["iat": "\(Int(F.now) + 30).001"]))
        #expect(F.rejection(token) == .issuedInFuture)
    }

    @Test func notBeforeUpToLeewayInTheFutureIsAccepted() {
        #expect(F.rejection(F.token(payload: F.payload(replacing: ["nbf": "\(Int(F.now) + 30)"]))) == nil)
    }

    @Test func notBeforeBeyondLeewayInTheFutureIsRejected() {
        #expect(F.rejection(F.token(payload: F.payload(replacing: ["nbf": "\(Int(F.now) + 31)"]))) == .notYetValid)
    }

    @Test func expiredIsReportedOnlyWhenEverythingElsePasses() {
        let late = F.now + 10_000
        #expect(F.rejection(F.token(payload: F.payload(replacing: ["iss": #""evil""#])), at: late) == .wrongIssuer)
        #expect(F.rejection(F.token(secret: F.otherSecret), at: late) == .badSignature)
        #expect(F.rejection(F.token(), at: late) == .expired)
    }

    @Test func everyOtherRejectionIsTheGenericInvalidToken() {
        let reasons: [TokenRejection] = [
            .tooLong, .malformed, .malformedHeader, .unsupportedAlgorithm, .wrongType, .unsupportedHeaderParameter, .missingKeyID,
            .unknownKeyID, .badSignature, .malformedPayload, .missingClaim("iss"), .invalidClaim("exp"), .wrongIssuer, .wrongAudience,
            .issuedInFuture, .notYetValid,
        ]
        #expect(reasons.allSatisfy { $0.problemCode == .invalidToken })
    }

    private func rawToken(header: [UInt8], payload: [UInt8]) -> String {
        let signingInput = Base64URL.encode(header) + "." + Base64URL.encode(payload)
        let mac = Array(signingInput.utf8).withUnsafeBytes { F.key().authenticationCode(for: $0) }
        return signingInput + "." + Base64URL.encode(Array(mac))
    }
}
