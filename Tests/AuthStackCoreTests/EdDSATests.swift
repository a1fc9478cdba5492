import AuthStackCore
import Crypto
import Foundation
import Testing

/// EdDSA (Ed25519) keys beside HS256 (issue 19, item 4): a token's `alg` must equal its key's algorithm, verifiers
/// hold public keys only, and a keyring that mixes both algorithms verifies tokens of both. Signatures are made and
/// checked here with swift-crypto's `Curve25519` directly, independently of the signer.
@Suite struct EdDSATests {
    typealias F = TokenFixtures
    static let t0 = Date(timeIntervalSince1970: F.now)
    static let privateKey = SecretBytes(Array(repeating: 0x11, count: 32))
    static let otherPrivateKey = SecretBytes(Array(repeating: 0x22, count: 32))
    static var publicKey: [UInt8] { EdDSAKey.publicKey(of: privateKey)! }

    static func edDSAKey(_ kid: String, _ status: KeyStatus, privateKey: SecretBytes = privateKey, signer: Bool = true) -> KeyringKey {
        KeyringKey(
            kid: kid,
            algorithm: .edDSA,
            secret: signer ? privateKey : SecretBytes([]),
            publicKey: EdDSAKey.publicKey(of: privateKey)!,
            status: status,
            createdAt: t0,
            activatedAt: status == .next ? nil : t0,
            retireAt: status == .previous ? t0.addingTimeInterval(930) : nil
        )
    }

    static func hs256Key(_ kid: String, _ status: KeyStatus, secret: SecretBytes = F.secret) -> KeyringKey {
        KeyringKey(
            kid: kid,
            secret: secret,
            status: status,
            createdAt: t0,
            activatedAt: status == .next ? nil : t0,
            retireAt: status == .previous ? t0.addingTimeInterval(930) : nil
        )
    }

    /// `b64(header).b64(payload).b64(Ed25519(privateKey, signing input))`, signed by swift-crypto directly.
    static func edDSAToken(header: String, payload: String = F.payload(), privateKey: SecretBytes = privateKey) throws -> String {
        let signingInput = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: privateKey.bytes)
        return signingInput + "." + Base64URL.encode(Array(try key.signature(for: Array(signingInput.utf8))))
    }

    /// The keyring as a verifier receives it: parsed from the JWK set without private keys.
    static func verifierKeys(_ keys: [KeyringKey]) throws -> VerificationKeySet {
        try Keyring(jwkSetJSON: Keyring(version: 1, keys: keys).jwkSetJSON(includingPrivateKeys: false)).verificationKeys
    }

    // MARK: Signing and verifying

    @Test func signerWritesAnEdDSAHeaderAndVerifiersAcceptItWithThePublicKeyAlone() throws {
        let keyring = try Keyring(version: 1, keys: [Self.edDSAKey("k-ed", .current)])
        let signer = AccessTokenSigner()
        let token = signer.sign(
            signer.claims(subject: "user-1", username: "alice", sessionID: "s", now: Self.t0),
            with: try #require(keyring.signingKey)
        )
        let header = try #require(Base64URL.decode(String(token.split(separator: ".")[0])))
        #expect(String(decoding: header, as: UTF8.self) == #"{"alg":"EdDSA","typ":"at+jwt","kid":"k-ed"}"#)
        // 64 bytes of signature: 86 base64url characters, checked with swift-crypto's own public key.
        let parts = token.split(separator: ".").map(String.init)
        #expect(parts[2].count == 86)
        let signature = try #require(Base64URL.decode(parts[2]))
        let verifying = try Curve25519.Signing.PublicKey(rawRepresentation: Self.publicKey)
        #expect(verifying.isValidSignature(signature, for: Array((parts[0] + "." + parts[1]).utf8)))
        let claims = try F.notesVerifier.verify(token, keys: try Self.verifierKeys(keyring.keys), now: Self.t0)
        #expect(claims.subject == "user-1")
    }

    @Test func independentlySignedEdDSATokenVerifies() throws {
        let token = try Self.edDSAToken(header: #"{"alg":"EdDSA","typ":"at+jwt","kid":"k-ed"}"#)
        #expect(F.rejection(token, keys: try Self.verifierKeys([Self.edDSAKey("k-ed", .current)])) == nil)
    }

    @Test func hs256TokenForgedWithTheEdDSAPublicKeyAsHMACSecretIsRejected() throws {
        let keys = try Self.verifierKeys([Self.edDSAKey("k-ed", .current)])
        let header = #"{"alg":"HS256","typ":"at+jwt","kid":"k-ed"}"#
        // The public key's 32 raw bytes (the JWK's `x`), and its base64url text, each as the HMAC secret.
        for secret in [Self.publicKey, Array(Base64URL.encode(Self.publicKey).utf8)] {
            #expect(F.rejection(F.token(header: header, secret: SecretBytes(secret)), keys: keys) == .unsupportedAlgorithm)
        }
    }

    @Test func edDSATokenWhoseKidNamesAnHS256KeyIsRejected() throws {
        let keys = try Self.verifierKeys([Self.hs256Key("k-hs", .current), Self.edDSAKey("k-ed", .next)])
        // Signed with a real Ed25519 key, but the kid names the HS256 key.
        let token = try Self.edDSAToken(header: #"{"alg":"EdDSA","typ":"at+jwt","kid":"k-hs"}"#)
        #expect(F.rejection(token, keys: keys) == .unsupportedAlgorithm)
        // And the HS256 key's own tokens still verify beside the EdDSA key.
        #expect(F.rejection(F.token(header: #"{"alg":"HS256","typ":"at+jwt","kid":"k-hs"}"#), keys: keys) == nil)
    }

    @Test(arguments: ["none", "eddsa", "EDDSA", "Ed25519", "ES256", "EdDSA ", ""])
    func otherAlgorithmsAreRejectedForAnEdDSAKey(alg: String) throws {
        let keys = try Self.verifierKeys([Self.edDSAKey("k-ed", .current)])
        let token = try Self.edDSAToken(header: #"{"alg":"\#(alg)","typ":"at+jwt","kid":"k-ed"}"#)
        #expect(F.rejection(token, keys: keys) == .unsupportedAlgorithm)
    }

    @Test func unsignedAndWronglySizedSignaturesAreRejected() throws {
        let keys = try Self.verifierKeys([Self.edDSAKey("k-ed", .current)])
        let token = try Self.edDSAToken(header: #"{"alg":"EdDSA","typ":"at+jwt","kid":"k-ed"}"#)
        let input = String(token[..<token.lastIndex(of: ".")!])
        let signature = String(token[token.index(after: token.lastIndex(of: ".")!)...])
        #expect(F.rejection(input + ".", keys: keys) == .malformed)
        // An HMAC-sized signature, one character short or long, and 64 zero bytes.
        for forged in [String(signature.prefix(43)), String(signature.dropLast()), signature + "A", Base64URL.encode(Array(repeating: 0, count: 64))]
        {
            #expect(F.rejection(input + "." + forged, keys: keys) != nil)
        }
        #expect(F.rejection(input + "." + Base64URL.encode(Array(repeating: 0, count: 64)), keys: keys) == .badSignature)
        #expect(F.rejection(input + "." + String(signature.prefix(43)), keys: keys) == .badSignature)
    }

    @Test func signatureOfAnotherKeyOrOfAnotherPayloadIsRejected() throws {
        let keys = try Self.verifierKeys([Self.edDSAKey("k-ed", .current)])
        let header = #"{"alg":"EdDSA","typ":"at+jwt","kid":"k-ed"}"#
        let otherKey = try Self.edDSAToken(header: header, privateKey: Self.otherPrivateKey)
        #expect(F.rejection(otherKey, keys: keys) == .badSignature)
        let genuine = try Self.edDSAToken(header: header).split(separator: ".").map(String.init)
        let otherPayload = Base64URL.encode(Array(F.payload(replacing: ["sub": #""admin""#]).utf8))
        #expect(F.rejection([genuine[0], otherPayload, genuine[2]].joined(separator: "."), keys: keys) == .badSignature)
    }

    @Test func claimsAreCheckedForEdDSATokensToo() throws {
        let keys = try Self.verifierKeys([Self.edDSAKey("k-ed", .current)])
        let header = #"{"alg":"EdDSA","typ":"at+jwt","kid":"k-ed"}"#
        #expect(
            F.rejection(try Self.edDSAToken(header: header, payload: F.payload(replacing: ["aud": #""identity""#])), keys: keys) == .wrongAudience
        )
        #expect(F.rejection(try Self.edDSAToken(header: header), keys: keys, at: F.now + 2_000) == .expired)
    }

    // MARK: A mixed keyring: switching rejects no valid token

    @Test(arguments: [KeyAlgorithm.hs256, .edDSA])
    func tokensOfThePreviousAndTheCurrentKeyVerifyWhateverTheirAlgorithms(previous: KeyAlgorithm) throws {
        let current: KeyAlgorithm = previous == .hs256 ? .edDSA : .hs256
        func key(_ algorithm: KeyAlgorithm, _ kid: String, _ status: KeyStatus) -> KeyringKey {
            algorithm == .hs256 ? Self.hs256Key(kid, status) : Self.edDSAKey(kid, status)
        }
        // Identity signed with the old key, then the rotation made the other algorithm's key current.
        let before = try Keyring(version: 1, keys: [key(previous, "k-old", .current), key(current, "k-new", .next)])
        let after = try Keyring(version: 2, keys: [key(previous, "k-old", .previous), key(current, "k-new", .current)])
        let signer = AccessTokenSigner(audience: ["notes"])
        let claims = signer.claims(subject: "user-1", username: "alice", sessionID: "s", now: Self.t0)
        let old = signer.sign(claims, with: try #require(before.signingKey))
        let new = signer.sign(claims, with: try #require(after.signingKey))
        for keys in [try Self.verifierKeys(before.keys), try Self.verifierKeys(after.keys), after.verificationKeys] {
            #expect(F.rejection(new, keys: keys) == nil)
            #expect(F.rejection(old, keys: keys) == nil)
        }
    }

    // MARK: The JWK set

    @Test func jwkSetGivesEdDSAKeysAsOKPWithDOnlyForSigners() throws {
        let keyring = try Keyring(version: 4, keys: [Self.hs256Key("k-hs", .previous), Self.edDSAKey("k-ed", .current)])
        #expect(try Keyring(jwkSetJSON: keyring.jwkSetJSON()).keys == keyring.keys)
        let verifierJSON = keyring.jwkSetJSON(includingPrivateKeys: false)
        let verifier = try Keyring(jwkSetJSON: verifierJSON)
        #expect(verifier.keys == [Self.hs256Key("k-hs", .previous), Self.edDSAKey("k-ed", .current, signer: false)])
        #expect(verifier.signingKey == nil)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(verifierJSON)) as? [String: Any])
        let jwks = try #require(object["keys"] as? [[String: Any]])
        #expect(Set(jwks[1].keys) == ["kty", "crv", "kid", "alg", "use", "x", "status", "created_at", "activated_at"])
        #expect(jwks[1]["kty"] as? String == "OKP")
        #expect(jwks[1]["x"] as? String == Base64URL.encode(Self.publicKey))
        // HS256 secrets stay: a verifier needs them.
        #expect(jwks[0]["k"] as? String == Base64URL.encode(F.secret.bytes))
        let signerObject = try #require(try JSONSerialization.jsonObject(with: Data(keyring.jwkSetJSON())) as? [String: Any])
        let signerKeys = try #require(signerObject["keys"] as? [[String: Any]])
        #expect(signerKeys[1]["d"] as? String == Base64URL.encode(Self.privateKey.bytes))
    }

    static let x = Base64URL.encode(publicKey)
    static let d = Base64URL.encode(privateKey.bytes)

    @Test(arguments: [
        #""kty":"EC","crv":"Ed25519","x":"\#(x)""#,
        #""kty":"OKP","crv":"X25519","x":"\#(x)""#,
        #""kty":"OKP","crv":"Ed448","x":"\#(x)""#,
        #""kty":"OKP","x":"\#(x)""#,
        #""kty":"OKP","crv":"Ed25519","alg":"HS256","x":"\#(x)""#,
        #""kty":"OKP","crv":"Ed25519","alg":"EdDSA""#,
        #""kty":"OKP","crv":"Ed25519","x":"\#(x)","k":"\#(x)""#,
        #""kty":"OKP","crv":"Ed25519","x":"\#(Base64URL.encode(publicKey.dropLast()))""#,
        #""kty":"OKP","crv":"Ed25519","x":"\#(Base64URL.encode(publicKey + [0]))""#,
        #""kty":"OKP","crv":"Ed25519","x":"\#(x)","d":"\#(Base64URL.encode(privateKey.bytes.dropLast()))""#,
        #""kty":"OKP","crv":"Ed25519","x":"\#(x)","d":"not base64!""#,
        #""kty":"OKP","crv":"Ed25519","x":"\#(x)","d":"""#,
        #""kty":"OKP","crv":"Ed25519","x":"\#(x)","d":"\#(Base64URL.encode(otherPrivateKey.bytes))""#,
        #""kty":"oct","alg":"EdDSA","k":"\#(x)""#,
        #""kty":"oct","alg":"HS256","k":"\#(x)","x":"\#(x)""#,
        #""kty":"oct","alg":"HS256","k":"\#(x)","crv":"Ed25519""#,
    ])
    func malformedKeysAreRefused(members: String) throws {
        let document = #"{"version":1,"current_kid":"k1","keys":[{"kid":"k1",\#(members),"status":"current","created_at":"2027-01-15T08:00:00Z"}]}"#
        #expect(throws: Keyring.Failure.self) { try Keyring(jwkSetJSON: Array(document.utf8)) }
        do {
            _ = try Keyring(jwkSetJSON: Array(document.utf8))
        } catch {
            // The error names what is wrong but never echoes key material.
            #expect(!"\(error)".contains(Self.d))
        }
    }

    @Test func wellFormedEdDSAKeysAreAccepted() throws {
        for members in [
            #""kty":"OKP","crv":"Ed25519","x":"\#(Self.x)""#, #""kty":"OKP","crv":"Ed25519","alg":"EdDSA","x":"\#(Self.x)","d":"\#(Self.d)""#,
        ] {
            let document =
                #"{"version":1,"current_kid":"k1","keys":[{"kid":"k1",\#(members),"status":"current","created_at":"2027-01-15T08:00:00Z"}]}"#
            let keyring = try Keyring(jwkSetJSON: Array(document.utf8))
            #expect(keyring.currentKey.algorithm == .edDSA)
            #expect(keyring.currentKey.publicKey == Self.publicKey)
        }
    }

    @Test func edDSAPrivateKeysNeverPrint() throws {
        let key = Self.edDSAKey("k-ed", .current)
        let keyring = try Keyring(version: 1, keys: [key])
        var dumped = ""
        dump(keyring, to: &dumped)
        for text in ["\(key)", String(reflecting: key), String(describing: keyring.signingKey), "\(keyring)", String(reflecting: keyring), dumped] {
            #expect(!text.contains(Self.d))
            #expect(!text.contains("17, 17, 17"))
        }
    }

    @Test func keyringRefusesMaterialThatDoesNotFitTheAlgorithm() throws {
        var hs256WithPublicKey = Self.hs256Key("k-hs", .current)
        hs256WithPublicKey.publicKey = Self.publicKey
        var shortPublicKey = Self.edDSAKey("k-ed", .current, signer: false)
        shortPublicKey.publicKey.removeLast()
        var foreignPrivateKey = Self.edDSAKey("k-ed", .current)
        foreignPrivateKey.secret = Self.otherPrivateKey
        var shortPrivateKey = Self.edDSAKey("k-ed", .current)
        shortPrivateKey.secret = SecretBytes(Array(Self.privateKey.bytes.dropLast()))
        for (key, kid) in [(hs256WithPublicKey, "k-hs"), (shortPublicKey, "k-ed"), (foreignPrivateKey, "k-ed"), (shortPrivateKey, "k-ed")] {
            #expect(throws: Keyring.Failure.invalidKeyMaterial(kid)) { try Keyring(version: 1, keys: [key]) }
        }
        var badKid = Self.edDSAKey("k-ed", .current)
        badKid.kid = "k ed"
        #expect(throws: Keyring.Failure.invalidKeyID) { try Keyring(version: 1, keys: [badKid]) }
    }
}
