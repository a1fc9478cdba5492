import Testing

@testable import AuthStackCore

/// The verifier's packed name constants must equal the strings they stand for.
@Suite struct StrictJSONLiteralTests {
    @Test func headerLiteralsPackTheirNames() {
        #expect(HeaderLiteral.alg == StrictJSON.Literal("alg"))
        #expect(HeaderLiteral.typ == StrictJSON.Literal("typ"))
        #expect(HeaderLiteral.kid == StrictJSON.Literal("kid"))
        #expect(HeaderLiteral.crit == StrictJSON.Literal("crit"))
        #expect(HeaderLiteral.b64 == StrictJSON.Literal("b64"))
        #expect(HeaderLiteral.hs256 == StrictJSON.Literal("HS256"))
        #expect(HeaderLiteral.edDSA == StrictJSON.Literal("EdDSA"))
    }

    @Test func claimLiteralsPackTheirNames() {
        #expect(ClaimLiteral.iss == StrictJSON.Literal("iss"))
        #expect(ClaimLiteral.aud == StrictJSON.Literal("aud"))
        #expect(ClaimLiteral.sub == StrictJSON.Literal("sub"))
        #expect(ClaimLiteral.sid == StrictJSON.Literal("sid"))
        #expect(ClaimLiteral.jti == StrictJSON.Literal("jti"))
        #expect(ClaimLiteral.iat == StrictJSON.Literal("iat"))
        #expect(ClaimLiteral.exp == StrictJSON.Literal("exp"))
        #expect(ClaimLiteral.nbf == StrictJSON.Literal("nbf"))
        #expect(ClaimLiteral.username == StrictJSON.Literal("username"))
    }

    @Test func escapedNamesPackLikeTheirPlainSpelling() throws {
        let bytes = Array(#"{"\u0065xp":1,"us\u0065rname":2}"#.utf8)
        var matched: [String] = []
        try bytes.withUnsafeBufferPointer { (buffer: UnsafeBufferPointer<UInt8>) throws(StrictJSON.Failure) in
            try StrictJSON.forEachMember(of: buffer) { name, _ in
                if name.matches(ClaimLiteral.exp) { matched.append("exp") }
                if name.matches(ClaimLiteral.username) { matched.append("username") }
            }
        }
        #expect(matched == ["exp", "username"])
    }
}
