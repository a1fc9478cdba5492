// swift-crypto's bundled BoringSSL, reached through the `Crypto` product: its SHA-256 context is a plain C value, so
// a pre-keyed HMAC state can be copied without the allocation and copy-on-write of `Crypto.SHA256`.
import CCryptoBoringSSL
import Crypto
import Foundation

/// An HS256 signing/verification key: a `kid` and a secret of at least 256 bits, with HMAC's inner and outer hash
/// states pre-keyed (RFC 2104).
///
/// HMAC-SHA256 is computed from two SHA-256 contexts that have already absorbed `key ⊕ ipad` and `key ⊕ opad`: a call
/// copies them (two 112-byte value copies) and hashes only the message and the inner digest. That saves the two
/// keying compressions of every call and every allocation: swift-crypto's `HMAC` and `SHA256` types allocate a
/// context per copy and go through generic `DataProtocol` code, which cost more than the SHA-256 work itself (profile
/// in docs/benchmarks.md). The compression function is BoringSSL's, the same code `Crypto.HMAC` runs. Checked against
/// RFC 4231, RFC 7515 A.1 and swift-crypto's `HMAC` in the tests.
public struct HS256Key: Sendable {
    /// Shortest accepted secret, in bytes (RFC 7518 §3.2: a key of the same size as the hash output or larger).
    public static let minimumSecretLength = 32
    /// Longest accepted `kid`, in bytes.
    public static let maximumKeyIDLength = 64

    /// Why a key was refused.
    public enum Failure: Error, Equatable, Sendable {
        /// The secret is shorter than ``HS256Key/minimumSecretLength``.
        case secretTooShort
        /// The `kid` is empty, too long or has characters outside `[A-Za-z0-9._~-]`.
        case invalidKeyID
    }

    /// The key identifier carried in the JWS header.
    public let kid: String
    /// The secret; never printed.
    public let secret: SecretBytes
    @usableFromInline let kidBytes: [UInt8]
    let innerContext: SHA256_CTX
    let outerContext: SHA256_CTX

    /// Creates a key after checking the `kid` syntax and the secret length.
    public init(kid: String, secret: SecretBytes) throws(Failure) {
        guard Self.isValidKeyID(kid) else { throw .invalidKeyID }
        guard secret.count >= Self.minimumSecretLength else { throw .secretTooShort }
        self.kid = kid
        self.secret = secret
        self.kidBytes = Array(kid.utf8)
        (self.innerContext, self.outerContext) = Self.keyedContexts(secret.bytes)
    }

    /// SHA-256 contexts after absorbing the key XOR-ed with ipad (0x36) and opad (0x5C), RFC 2104 §2.
    private static func keyedContexts(_ secret: [UInt8]) -> (inner: SHA256_CTX, outer: SHA256_CTX) {
        // Keys longer than the 64-byte block are hashed first; shorter ones are zero-padded.
        var block = secret.count > 64 ? Array(SHA256.hash(data: secret)) : secret
        block += Array(repeating: 0, count: 64 - block.count)
        var inner = SHA256_CTX()
        var outer = SHA256_CTX()
        CCryptoBoringSSL_SHA256_Init(&inner)
        CCryptoBoringSSL_SHA256_Init(&outer)
        CCryptoBoringSSL_SHA256_Update(&inner, block.map { $0 ^ 0x36 }, 64)
        CCryptoBoringSSL_SHA256_Update(&outer, block.map { $0 ^ 0x5C }, 64)
        return (inner, outer)
    }

    /// `kid` syntax: 1–64 characters of the URL-safe unreserved set (RFC 3986 §2.3), so a `kid` can never inject
    /// anything into JSON, a path, a log line or a SQL statement.
    public static func isValidKeyID(_ kid: String) -> Bool {
        ASCIIIdentifier.isValid(kid, maximumLength: maximumKeyIDLength, punctuation: "._~-")
    }

    /// HMAC-SHA256 of `message` under this key, written to `output` (32 bytes).
    func authenticate(_ message: UnsafeRawBufferPointer, into output: UnsafeMutablePointer<UInt8>) {
        var inner = innerContext
        CCryptoBoringSSL_SHA256_Update(&inner, message.baseAddress, message.count)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { innerDigest in
            CCryptoBoringSSL_SHA256_Final(innerDigest.baseAddress, &inner)
            var outer = outerContext
            CCryptoBoringSSL_SHA256_Update(&outer, innerDigest.baseAddress, 32)
            CCryptoBoringSSL_SHA256_Final(output, &outer)
        }
    }

    /// HMAC-SHA256 of `message` under this key.
    public func authenticationCode(for message: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { buffer, count in
            authenticate(message, into: buffer.baseAddress!)
            count = 32
        }
    }
}

/// The keys a verifier currently holds (`next`, `current` and `previous`), looked up by `kid`.
///
/// An immutable value: the keyring follower swaps in a new set; readers never lock. HS256 and EdDSA keys are kept
/// apart, so the HS256 path scans and keys exactly what it did before EdDSA existed.
public struct VerificationKeySet: Sendable {
    /// The HS256 keys; with ``edDSAKeys``, at most ``Keyring/maximumVerifyingKeys``.
    public let keys: [HS256Key]
    /// The EdDSA keys (public keys; a signer's also hold their private keys).
    public let edDSAKeys: [EdDSAKey]

    /// Where a `kid` was found: the algorithm's own list and the position in it.
    enum KeyReference: Equatable {
        /// ``VerificationKeySet/keys``[index].
        case hs256(Int)
        /// ``VerificationKeySet/edDSAKeys``[index].
        case edDSA(Int)
    }

    /// A set of keys; `kid`s are expected to be unique across both lists (``Keyring`` guarantees it).
    public init(_ keys: [HS256Key], edDSAKeys: [EdDSAKey] = []) {
        self.keys = keys
        self.edDSAKeys = edDSAKeys
    }

    /// The key named by `kid`, looked up among the keys of `algorithm` first. A `kid` held under the other algorithm
    /// is `unsupportedAlgorithm` (a token's `alg` must equal its key's); one held under neither is `unknownKeyID`.
    func reference(forKeyID kid: UnsafeBufferPointer<UInt8>, algorithm: KeyAlgorithm) throws(TokenRejection) -> KeyReference {
        switch algorithm {
        case .hs256:
            if let index = index(forKeyID: kid) { return .hs256(index) }
            if edDSAIndex(forKeyID: kid) != nil { throw .unsupportedAlgorithm }
        case .edDSA:
            if let index = edDSAIndex(forKeyID: kid) { return .edDSA(index) }
            if index(forKeyID: kid) != nil { throw .unsupportedAlgorithm }
        }
        throw .unknownKeyID
    }

    /// The position in ``keys`` of the key named by `kid`, compared byte for byte (a linear scan beats hashing for
    /// ≤ 32 short kids). Works on the elements in place: copying an `HS256Key` would copy 224 bytes of hash state.
    func index(forKeyID kid: UnsafeBufferPointer<UInt8>) -> Int? {
        keys.withUnsafeBufferPointer { keys in
            for index in keys.indices where keys[index].kidBytes.count == kid.count {
                let matches = keys[index].kidBytes.withUnsafeBufferPointer { candidate in
                    StrictJSON.memcmpEqual(candidate.baseAddress!, kid.baseAddress!, kid.count)
                }
                if matches { return index }
            }
            return nil
        }
    }

    /// The position in ``edDSAKeys`` of the key named by `kid`, compared byte for byte.
    func edDSAIndex(forKeyID kid: UnsafeBufferPointer<UInt8>) -> Int? {
        edDSAKeys.firstIndex { key in
            key.kidBytes.count == kid.count
                && key.kidBytes.withUnsafeBufferPointer { StrictJSON.memcmpEqual($0.baseAddress!, kid.baseAddress!, kid.count) }
        }
    }

    /// HMAC-SHA256 of `message` under the key at `index`, written to `output` (32 bytes), without copying the key.
    func authenticate(_ message: UnsafeRawBufferPointer, withKeyAt index: Int, into output: UnsafeMutablePointer<UInt8>) {
        keys.withUnsafeBufferPointer { $0[index].authenticate(message, into: output) }
    }
}
