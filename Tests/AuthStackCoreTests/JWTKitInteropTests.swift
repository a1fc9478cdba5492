import AuthStackCore
import Crypto
import Foundation
import JWTKit
import Testing

/// Cross-checks against an independent JOSE implementation (vapor/jwt-kit) in both directions.
@Suite struct JWTKitInteropTests {
    struct Payload: JWTPayload, Equatable {
        var iss: IssuerClaim
        var aud: AudienceClaim
        var sub: SubjectClaim
        var username: String
        var sid: String
        var jti: IDClaim
        var iat: IssuedAtClaim
        var exp: ExpirationClaim

        func verify(using algorithm: some JWTAlgorithm) throws {
            // Checked against the fixed test clock rather than the wall clock.
            guard exp.value > Date(timeIntervalSince1970: TokenFixtures.now) else {
                throw JWTError.claimVerificationFailure(failedClaim: exp, reason: "expired")
            }
            try aud.verifyIntendedAudience(includes: "notes")
        }
    }

    private func jwtKitKeys() async -> JWTKeyCollection {
        await JWTKeyCollection().add(
            hmac: HMACKey(key: .init(data: TokenFixtures.secret.bytes)),
            digestAlgorithm: .sha256,
            kid: JWKIdentifier(string: TokenFixtures.kid)
        )
    }

    @Test func ourTokenVerifiesWithJWTKit() async throws {
        let signer = AccessTokenSigner(issuer: "authstack", audience: ["identity", "notes"], timeToLive: 900)
        let claims = signer.claims(subject: "user-7", username: "carol", sessionID: "s-1", now: TokenFixtures.nowDate)
        let token = signer.sign(claims, with: TokenFixtures.key())
        let payload = try await jwtKitKeys().verify(token, as: Payload.self)
        #expect(payload.sub.value == "user-7")
        #expect(payload.username == "carol")
        #expect(payload.sid == "s-1")
        #expect(payload.iss.value == "authstack")
        #expect(payload.exp.value == Date(timeIntervalSince1970: claims.expiresAt))
    }

    @Test func jwtKitTokenVerifiesWithOurs() async throws {
        let payload = Payload(
            iss: "authstack",
            aud: AudienceClaim(value: ["identity", "notes"]),
            sub: "user-8",
            username: "dave",
            sid: "s-2",
            jti: "j-2",
            iat: .init(value: TokenFixtures.nowDate),
            exp: .init(value: TokenFixtures.nowDate.addingTimeInterval(600))
        )
        var header = JWTHeader()
        header.typ = "at+jwt"
        let token = try await jwtKitKeys().sign(payload, kid: JWKIdentifier(string: TokenFixtures.kid), header: header)
        let claims = try TokenFixtures.notesVerifier.verify(token, keys: TokenFixtures.keys, now: TokenFixtures.nowDate)
        #expect(claims.subject == "user-8")
        #expect(claims.username == "dave")
        #expect(claims.sessionID == "s-2")
        #expect(claims.tokenID == "j-2")
        #expect(claims.expiresAt == TokenFixtures.now + 600)
    }

    @Test func jwtKitTokenWithItsDefaultTypeIsRejectedByOurs() async throws {
        let payload = Payload(
            iss: "authstack",
            aud: AudienceClaim(value: ["notes"]),
            sub: "user-9",
            username: "erin",
            sid: "s-3",
            jti: "j-3",
            iat: .init(value: TokenFixtures.nowDate),
            exp: .init(value: TokenFixtures.nowDate.addingTimeInterval(600))
        )
        let token = try await jwtKitKeys().sign(payload, kid: JWKIdentifier(string: TokenFixtures.kid))
        #expect(TokenFixtures.rejection(token) == .wrongType)
    }
}
