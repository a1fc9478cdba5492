import AuthStackCore
import Foundation
import Testing

/// One test per rejection rule of docs/design.md §2; each asserts the precise reason, so removing a rule fails its test.
@Suite struct AccessTokenVerifierRejectionTests {
    typealias F = TokenFixtures

    private func header(alg: String = #""HS256""#, typ: String? = #""at+jwt""#, kid: String? = #""k2026-11-a""#, extra: String = "") -> String {
        var members = [#""alg":\#(alg)"#]
        if let typ { members.append(#""typ":\#(typ)"#) }
        if let kid { members.append(#""kid":\#(kid)"#) }
        if !extra.isEmpty { members.append(extra) }
        return "{" + members.joined(separator: ",") + "}"
    }

    // MARK: Structure

    @Test func tokenLongerThan8KiBIsRejected() {
        let filler = String(repeating: "a", count: 6200)
        let token = F.token(payload: F.payload(replacing: ["pad": "\"\(filler)\""]))
        #expect(token.utf8.count > 8192)
        #expect(F.rejection(token) == .tooLong)
    }

    @Test func tokenAtExactlyTheMaximumLengthIsAcceptedOneByteLessIsNot() throws {
        let token = F.token()
        let exact = AccessTokenVerifier(policy: TokenVerificationPolicy(audience: "notes", maximumLength: token.utf8.count))
        #expect(throws: Never.self) { try exact.verify(token, keys: F.keys, now: F.nowDate) }
        let shorter = AccessTokenVerifier(policy: TokenVerificationPolicy(audience: "notes", maximumLength: token.utf8.count - 1))
        #expect(throws: TokenRejection.tooLong) { try shorter.verify(token, keys: F.keys, now: F.nowDate) }
        #expect(TokenVerificationPolicy(audience: "notes").maximumLength == 8192)
    }

    @Test(arguments: [
        "", "abc", "a.b", "a.b.c.d", ".b.c", "a..c", "a.b.",
    ])
    func wrongNumberOfSegmentsIsMalformed(token: String) {
        #expect(F.rejection(token) == .malformed)
    }

    @Test func validTokenWithAFourthOrFifthSegmentIsMalformed() {
        // A JWE has five segments; a JWS with a smuggled extra one must not be read as "signature.extra".
        #expect(F.rejection(F.token() + ".e30") == .malformed)
        #expect(F.rejection(F.token() + ".e30.e30") == .malformed)
    }

    @Test func paddedBase64IsMalformed() {
        let parts = F.token().split(separator: ".").map(String.init)
        #expect(F.rejection(parts[0] + "=." + parts[1] + "." + parts[2]) == .malformed)
    }

    @Test func nonAlphabetCharacterIsMalformed() {
        // Correctly MAC'd over the bad encoding, so only the decoder can refuse it.
        let parts = F.token().split(separator: ".").map(String.init)
        let payload = parts[1].replacingOccurrences(of: "e", with: "+")
        #expect(payload != parts[1])
        let signingInput = parts[0] + "." + payload
        let mac = Array(signingInput.utf8).withUnsafeBytes { F.key().authenticationCode(for: $0) }
        #expect(F.rejection(signingInput + "." + Base64URL.encode(Array(mac))) == .malformed)
    }

    @Test func impossibleBase64LengthIsMalformed() {
        let parts = F.token().split(separator: ".").map(String.init)
        // A length ≡ 1 (mod 4) encodes no byte string.
        let header = parts[0] + String(repeating: "A", count: (5 - parts[0].count % 4) % 4 == 0 ? 4 : (5 - parts[0].count % 4) % 4)
        #expect(header.count % 4 == 1)
        #expect(F.rejection(header + "." + parts[1] + "." + parts[2]) == .malformed)
    }

    // MARK: Header

    @Test(arguments: ["not json", "[1,2]", "", #"{"alg":"HS256","alg":"HS256","typ":"at+jwt","kid":"k2026-11-a"}"#, #"{"alg":"HS256"}x"#])
    func headerThatIsNotAStrictJSONObjectIsRejected(header: String) {
        let expected: TokenRejection = header.isEmpty ? .malformed : .malformedHeader
        #expect(F.rejection(F.token(header: header)) == expected)
    }

    @Test(arguments: [
        #""none""#, #""None""#, #""NONE""#, #""nOnE""#, #""HS512""#, #""HS384""#, #""RS256""#, #""ES256""#, #""hs256""#,
        #""HS256 ""#, #"" HS256""#, #""""#, "null", "256", #"["HS256"]"#,
    ])
    func algorithmOtherThanExactlyHS256IsRejected(alg: String) {
        #expect(F.rejection(F.token(header: header(alg: alg))) == .unsupportedAlgorithm)
    }

    @Test func missingAlgorithmIsRejected() {
        #expect(F.rejection(F.token(header: #"{"typ":"at+jwt","kid":"k2026-11-a"}"#)) == .unsupportedAlgorithm)
    }

    @Test(arguments: [#""JWT""#, #""jwt""#, #""at+jwt+x""#, #""application/jwt""#, "1", "null"])
    func typeOtherThanAccessTokenIsRejected(typ: String) {
        #expect(F.rejection(F.token(header: header(typ: typ))) == .wrongType)
    }

    @Test func missingTypeIsRejected() {
        #expect(F.rejection(F.token(header: header(typ: nil))) == .wrongType)
    }

    @Test func criticalHeaderIsRejected() {
        #expect(F.rejection(F.token(header: header(extra: #""crit":["exp"]"#))) == .unsupportedHeaderParameter)
        #expect(F.rejection(F.token(header: header(extra: #""crit":[]"#))) == .unsupportedHeaderParameter)
    }

    @Test func unencodedPayloadOptionIsRejected() {
        #expect(F.rejection(F.token(header: header(extra: #""b64":false"#))) == .unsupportedHeaderParameter)
        #expect(F.rejection(F.token(header: header(extra: #""b64":true"#))) == nil)
    }

    @Test(arguments: [nil, "1", "null", #"["k2026-11-a"]"#])
    func missingOrNonStringKeyIDIsRejected(kid: String?) {
        #expect(F.rejection(F.token(header: header(kid: kid))) == .missingKeyID)
    }

    @Test(arguments: [#""unknown""#, #""../../../dev/null""#, #""' OR '1'='1""#, #""""#, #""k2026-11-a ""#, #""K2026-11-A""#])
    func keyIDNotHeldIsRejected(kid: String) {
        #expect(F.rejection(F.token(header: header(kid: kid))) == .unknownKeyID)
    }

    @Test func unknownKeyIDIsNotCheckedAgainstAnotherKey() {
        // jwt-kit falls back to a default key for unknown kids (LESSONS.md); we must not.
        let token = F.token(header: header(kid: #""other""#))
        #expect(F.rejection(token, keys: VerificationKeySet([F.key()])) == .unknownKeyID)
    }

    // MARK: Signature

    @Test func tokenSignedWithAnotherSecretIsRejected() {
        #expect(F.rejection(F.token(secret: F.otherSecret)) == .badSignature)
    }

    @Test func alteredPayloadIsRejected() {
        let parts = F.token().split(separator: ".").map(String.init)
        let forged = Base64URL.encode(Array(F.payload(replacing: ["sub": #""admin""#]).utf8))
        #expect(F.rejection(parts[0] + "." + forged + "." + parts[2]) == .badSignature)
    }

    @Test func truncatedOrExtendedSignatureIsRejected() {
        let token = F.token()
        #expect(F.rejection(String(token.dropLast())) == .badSignature)
        #expect(F.rejection(token + "AA") == .badSignature)
    }

    @Test func signatureWithNonCanonicalTrailingBitsIsRejected() {
        var token = Array(F.token().utf8)
        // The 43rd character carries 4 unused low bits; setting one changes the encoding but not the MAC bytes.
        let last = token.count - 1
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let value = alphabet.firstIndex(of: token[last])!
        token[last] = alphabet[value | 1 == value ? value ^ 1 : value | 1]
        #expect(F.rejection(String(decoding: token, as: UTF8.self)) == .badSignature)
    }

    @Test func emptySignatureIsMalformed() {
        let parts = F.token().split(separator: ".").map(String.init)
        #expect(F.rejection(parts[0] + "." + parts[1] + ".") == .malformed)
    }

    @Test func payloadIsNotReadBeforeTheSignatureIsChecked() {
        let token = F.token(payload: "{not json", secret: F.otherSecret)
        #expect(F.rejection(token) == .badSignature)
    }
}
