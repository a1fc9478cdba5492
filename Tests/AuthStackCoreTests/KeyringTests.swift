import AuthStackCore
import Foundation
import Testing

@Suite struct KeyringTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func key(_ kid: String, _ status: KeyStatus, length: Int = 32) -> KeyringKey {
        KeyringKey(
            kid: kid,
            secret: SecretBytes(Array(repeating: UInt8(kid.utf8.count), count: length)),
            status: status,
            createdAt: t0,
            activatedAt: status == .next ? nil : t0,
            retireAt: status == .previous ? t0.addingTimeInterval(930) : nil
        )
    }

    @Test func validKeyringExposesCurrentNextAndVerificationKeys() throws {
        let keyring = try Keyring(version: 3, keys: [Self.key("a", .previous), Self.key("bb", .current), Self.key("ccc", .next)])
        #expect(keyring.currentKey.kid == "bb")
        #expect(keyring.signingKey?.kid == "bb")
        #expect(keyring.nextKey?.kid == "ccc")
        #expect(keyring.verificationKeys.keys.map(\.kid) == ["a", "bb", "ccc"])
    }

    @Test func jwkSetRoundTrips() throws {
        let keyring = try Keyring(version: 7, keys: [Self.key("a", .previous), Self.key("bb", .current), Self.key("ccc", .next)])
        let decoded = try Keyring(jwkSetJSON: keyring.jwkSetJSON())
        #expect(decoded.version == 7)
        #expect(decoded.keys == keyring.keys)
    }

    @Test func jwkSetIsStandardOctetKeys() throws {
        let keyring = try Keyring(version: 1, keys: [Self.key("bb", .current)])
        let object = try JSONSerialization.jsonObject(with: Data(keyring.jwkSetJSON())) as! [String: Any]
        #expect(object["current_kid"] as? String == "bb")
        #expect(object["version"] as? Int == 1)
        let jwk = (object["keys"] as! [[String: Any]])[0]
        #expect(jwk["kty"] as? String == "oct")
        #expect(jwk["alg"] as? String == "HS256")
        #expect(jwk["use"] as? String == "sig")
        #expect(jwk["status"] as? String == "current")
        #expect(jwk["created_at"] as? String == "2027-01-15T08:00:00Z")
        let k = try #require(jwk["k"] as? String)
        #expect(!k.contains("=") && !k.contains("+") && !k.contains("/"))
        #expect(Base64URL.decode(k) == Array(repeating: 2, count: 32))
    }

    @Test func keyringWithoutCurrentKeyIsRejected() {
        #expect(throws: Keyring.Failure.noCurrentKey) { try Keyring(version: 1, keys: [Self.key("a", .next)]) }
        #expect(throws: Keyring.Failure.noCurrentKey) { try Keyring(version: 1, keys: []) }
    }

    @Test func keyringWithTwoCurrentKeysIsRejected() {
        #expect(throws: Keyring.Failure.multipleCurrentKeys) { try Keyring(version: 1, keys: [Self.key("a", .current), Self.key("b", .current)]) }
    }

    @Test func duplicateKidIsRejected() {
        #expect(throws: Keyring.Failure.duplicateKeyID("a")) { try Keyring(version: 1, keys: [Self.key("a", .current), Self.key("a", .next)]) }
    }

    @Test func secretUnder32BytesIsRejected() {
        #expect(throws: Keyring.Failure.secretTooShort("a")) { try Keyring(version: 1, keys: [Self.key("a", .current, length: 31)]) }
        #expect(throws: Never.self) { try Keyring(version: 1, keys: [Self.key("a", .current, length: 32)]) }
    }

    @Test(arguments: ["", "a b", "a\"b", "ü", String(repeating: "k", count: 65)])
    func invalidKidIsRejected(kid: String) {
        #expect(throws: Keyring.Failure.invalidKeyID) { try Keyring(version: 1, keys: [Self.key(kid, .current)]) }
    }

    @Test func moreThan32KeysIsRejected() {
        let keys = [Self.key("current", .current)] + (0..<32).map { Self.key("p\($0)", .previous) }
        #expect(throws: Keyring.Failure.tooManyKeys) { try Keyring(version: 1, keys: keys) }
        #expect(throws: Never.self) { try Keyring(version: 1, keys: Array(keys.prefix(32))) }
    }

    @Test func documentWhoseCurrentKidDisagreesIsRejected() throws {
        let json = String(decoding: try Keyring(version: 1, keys: [Self.key("bb", .current)]).jwkSetJSON(), as: UTF8.self)
        let tampered = json.replacingOccurrences(of: #""current_kid":"bb""#, with: #""current_kid":"zz""#)
        #expect(throws: Keyring.Failure.currentKeyIDMismatch) { try Keyring(jwkSetJSON: Array(tampered.utf8)) }
    }

    @Test(arguments: [
        (#""kty":"oct""#, #""kty":"RSA""#), (#""alg":"HS256""#, #""alg":"none""#), (#""use":"sig""#, #""use":"enc""#),
        (#""status":"current""#, #""status":"revoked""#),
    ])
    func documentWithForeignKeyTypeOrStatusIsRejected(original: String, replacement: String) throws {
        let json = String(decoding: try Keyring(version: 1, keys: [Self.key("bb", .current)]).jwkSetJSON(), as: UTF8.self)
        let tampered = json.replacingOccurrences(of: original, with: replacement)
        #expect(tampered != json)
        #expect(throws: Keyring.Failure.self) { try Keyring(jwkSetJSON: Array(tampered.utf8)) }
    }

    @Test func malformedDocumentErrorNeverEchoesTheSecret() throws {
        let json = String(decoding: try Keyring(version: 1, keys: [Self.key("bb", .current)]).jwkSetJSON(), as: UTF8.self)
        let k = Base64URL.encode(Array(repeating: 2, count: 32))
        let tampered = json.replacingOccurrences(of: #""version":1"#, with: #""version":"\#(k)""#)
        do {
            _ = try Keyring(jwkSetJSON: Array(tampered.utf8))
            Issue.record("accepted")
        } catch {
            #expect(!"\(error)".contains(k))
        }
    }

    @Test func secretsNeverPrint() throws {
        let key = Self.key("bb", .current)
        let keyring = try Keyring(version: 1, keys: [key])
        let k = Base64URL.encode(key.secret.bytes)
        for text in ["\(key)", String(reflecting: key), String(describing: keyring.signingKey), "\(keyring)"] {
            #expect(!text.contains("2, 2, 2"))
            #expect(!text.contains(k))
        }
        var dumped = ""
        dump(key, to: &dumped)
        #expect(!dumped.contains("- 2"))
    }
}
