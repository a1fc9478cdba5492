import AuthStackCore
import Testing

@testable import KeyServer

/// AES-GCM sealing of HS256 secrets at rest (docs/design.md §4).
@Suite struct KeySealerTests {
    let master = SecretBytes(Array(repeating: 7, count: 32))
    let secret = SecretBytes((0..<32).map { UInt8($0) })

    @Test func sealedSecretOpensWithTheSameMasterKeyAndKid() throws {
        let sealer = try KeySealer(masterKey: master)
        let sealed = sealer.seal(secret, kid: "k1")
        #expect(sealed.count == 12 + 32 + 16)
        #expect(try sealer.open(sealed, kid: "k1") == secret)
    }

    @Test func sealedBytesDoNotContainTheSecretAndNoncesDiffer() throws {
        let sealer = try KeySealer(masterKey: master)
        let first = sealer.seal(secret, kid: "k1")
        let second = sealer.seal(secret, kid: "k1")
        #expect(first != second)
        #expect(!first.starts(with: secret.bytes) && !Array(first.dropFirst(12)).starts(with: secret.bytes))
    }

    @Test func wrongMasterKeyIsAClearErrorNotGarbage() throws {
        let sealed = try KeySealer(masterKey: master).seal(secret, kid: "k1")
        let other = try KeySealer(masterKey: SecretBytes(Array(repeating: 8, count: 32)))
        #expect(throws: KeySealer.Failure.authenticationFailed(kid: "k1")) { try other.open(sealed, kid: "k1") }
    }

    @Test func secretMovedToAnotherKidFailsAuthentication() throws {
        let sealer = try KeySealer(masterKey: master)
        let sealed = sealer.seal(secret, kid: "k1")
        #expect(throws: KeySealer.Failure.authenticationFailed(kid: "k2")) { try sealer.open(sealed, kid: "k2") }
    }

    @Test func tamperedOrTruncatedDataFails() throws {
        let sealer = try KeySealer(masterKey: master)
        var sealed = sealer.seal(secret, kid: "k1")
        sealed[20] ^= 1
        #expect(throws: KeySealer.Failure.self) { try sealer.open(sealed, kid: "k1") }
        #expect(throws: KeySealer.Failure.self) { try sealer.open(Array(sealed.prefix(10)), kid: "k1") }
    }

    @Test func masterKeyFileIsBase64URLOf32Bytes() throws {
        let text = Base64URL.encode(master.bytes) + "\n"
        let fromFile = try KeySealer(masterKeyFile: text)
        #expect(try fromFile.open(KeySealer(masterKey: master).seal(secret, kid: "k9"), kid: "k9") == secret)
        #expect(throws: KeySealer.Failure.invalidMasterKey) { try KeySealer(masterKeyFile: "short") }
        #expect(throws: KeySealer.Failure.invalidMasterKey) { try KeySealer(masterKeyFile: Base64URL.encode(Array(repeating: 1, count: 16))) }
    }

    @Test func errorsNeverContainTheSecret() throws {
        let error = KeySealer.Failure.authenticationFailed(kid: "k1")
        #expect(!error.description.contains(Base64URL.encode(secret.bytes)))
    }
}
