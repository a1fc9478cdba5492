import Crypto
import Foundation

/// An HS256 signing/verification key: a `kid` and a secret of at least 256 bits, with the HMAC state pre-keyed.
///
/// Keying HMAC-SHA256 costs two compression-function calls; copying an already keyed `HMAC<SHA256>` value and
/// feeding it the message avoids that on every verification (measured in docs/benchmarks.md).
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
    @usableFromInline let keyedMAC: HMAC<SHA256>

    /// Creates a key after checking the `kid` syntax and the secret length.
    public init(kid: String, secret: SecretBytes) throws(Failure) {
        guard Self.isValidKeyID(kid) else { throw .invalidKeyID }
        guard secret.count >= Self.minimumSecretLength else { throw .secretTooShort }
        self.kid = kid
        self.secret = secret
        self.kidBytes = Array(kid.utf8)
        self.keyedMAC = HMAC<SHA256>(key: SymmetricKey(data: secret.bytes))
    }

    /// `kid` syntax: 1–64 characters of the URL-safe unreserved set (RFC 3986 §2.3), so a `kid` can never inject
    /// anything into JSON, a path, a log line or a SQL statement.
    public static func isValidKeyID(_ kid: String) -> Bool {
        let bytes = kid.utf8
        guard !bytes.isEmpty, bytes.count <= maximumKeyIDLength else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }

    /// HMAC-SHA256 of `message` under this key.
    @inlinable
    public func authenticationCode(for message: UnsafeRawBufferPointer) -> HashedAuthenticationCode<SHA256> {
        var mac = keyedMAC
        mac.update(data: message)
        return mac.finalize()
    }
}

/// The keys a verifier currently holds (`next`, `current` and `previous`), looked up by `kid`.
///
/// An immutable value: the keyring follower swaps in a new set; readers never lock.
public struct VerificationKeySet: Sendable {
    /// The keys, at most ``Keyring/maximumVerifyingKeys``.
    public let keys: [HS256Key]

    /// A set of keys; `kid`s are expected to be unique (``Keyring`` guarantees it).
    public init(_ keys: [HS256Key]) { self.keys = keys }

    /// The key named by `kid`, compared byte for byte (a linear scan beats hashing for ≤ 32 short kids).
    @inlinable
    public func key(forKeyID kid: UnsafeBufferPointer<UInt8>) -> HS256Key? {
        for key in keys where key.kidBytes.count == kid.count {
            let matches = key.kidBytes.withUnsafeBufferPointer { candidate in
                StrictJSON.memcmpEqual(candidate.baseAddress!, kid.baseAddress!, kid.count)
            }
            if matches { return key }
        }
        return nil
    }

    /// The key named by `kid`.
    public func key(forKeyID kid: String) -> HS256Key? {
        keys.first { $0.kid == kid }
    }
}
