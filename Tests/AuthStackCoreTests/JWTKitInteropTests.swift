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

    // MARK: EdDSA (Ed25519), with jwt-kit's own EdDSA keys built from the JWK members x and d

    private static let edDSAPrivateKey = SecretBytes(Array(repeating: 0x5A, count: 32))

    private static func edDSAKeyring() throws -> Keyring {
        try Keyring(
            version: 1,
            keys: [
                KeyringKey(
                    kid: "k-ed",
                    algorithm: .edDSA,
                    secret: edDSAPrivateKey,
                    publicKey: try #require(AuthStackCore.EdDSAKey.publicKey(of: edDSAPrivateKey)),
                    status: .current,
                    createdAt: TokenFixtures.nowDate,
                    activatedAt: TokenFixtures.nowDate
                )
            ]
        )
    }

    @Test func ourEdDSATokenVerifiesWithJWTKit() async throws {
        let keyring = try Self.edDSAKeyring()
        let x = Base64URL.encode(keyring.currentKey.publicKey)
        let keys = await JWTKeyCollection().add(eddsa: try EdDSA.PublicKey(x: x, curve: .ed25519), kid: "k-ed")
        let signer = AccessTokenSigner(issuer: "authstack", audience: ["identity", "notes"], timeToLive: 900)
        let claims = signer.claims(subject: "user-10", username: "frank", sessionID: "s-4", now: TokenFixtures.nowDate)
        let payload = try await keys.verify(signer.sign(claims, with: try #require(keyring.signingKey)), as: Payload.self)
        #expect(payload.sub.value == "user-10")
        #expect(payload.username == "frank")
    }

    @Test func jwtKitEdDSATokenVerifiesWithOurs() async throws {
        let keyring = try Self.edDSAKeyring()
        let d = Base64URL.encode(Self.edDSAPrivateKey.bytes)
        let keys = await JWTKeyCollection().add(eddsa: try EdDSA.PrivateKey(d: d, curve: .ed25519), kid: "k-ed")
        let payload = Payload(
            iss: "authstack",
            aud: AudienceClaim(value: ["notes"]),
            sub: "user-11",
            username: "grace",
            sid: "s-5",
            jti: "j-5",
            iat: .init(value: TokenFixtures.nowDate),
            exp: .init(value: TokenFixtures.nowDate.addingTimeInterval(600))
        )
        var header = JWTHeader()
        header.typ = "at+jwt"
        let token = try await keys.sign(payload, kid: "k-ed", header: header)
        let verifierKeys = try Keyring(jwkSetJSON: keyring.jwkSetJSON(includingPrivateKeys: false)).verificationKeys
        #expect(try TokenFixtures.notesVerifier.verify(token, keys: verifierKeys, now: TokenFixtures.nowDate).subject == "user-11")
    }
}
