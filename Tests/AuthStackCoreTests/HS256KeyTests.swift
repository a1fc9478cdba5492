import AuthStackCore
import Crypto
import Testing

/// The pre-keyed HMAC-SHA256 of `HS256Key` against RFC 4231 and against swift-crypto's `HMAC`.
@Suite struct HS256KeyTests {
    private func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    private func mac(key: [UInt8], data: [UInt8]) throws -> [UInt8] {
        // HS256Key refuses keys under 32 bytes; RFC 4231's short-key cases are covered by the swift-crypto comparison.
        let hs256 = try HS256Key(kid: "rfc4231", secret: SecretBytes(key))
        return data.withUnsafeBytes { hs256.authenticationCode(for: $0) }
    }

    @Test func rfc4231Case6KeyLongerThanTheBlock() throws {
        let key = [UInt8](repeating: 0xAA, count: 131)
        let data = Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)
        #expect(try mac(key: key, data: data) == hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"))
    }

    @Test func rfc4231Case7LongKeyAndLongData() throws {
        let key = [UInt8](repeating: 0xAA, count: 131)
        let data = Array(
            "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."
                .utf8
        )
        #expect(try mac(key: key, data: data) == hex("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"))
    }

    @Test(arguments: [32, 33, 63, 64, 65, 200])
    func matchesSwiftCryptoForEveryKeyLengthAroundTheBlockSize(keyLength: Int) throws {
        let key = (0..<keyLength).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for messageLength in [0, 1, 55, 56, 64, 119, 413, 1000] {
            let message = (0..<messageLength).map { UInt8(truncatingIfNeeded: $0 &* 13) }
            let expected = Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
            #expect(try mac(key: key, data: message) == expected, "key \(keyLength) bytes, message \(messageLength) bytes")
        }
    }
}
