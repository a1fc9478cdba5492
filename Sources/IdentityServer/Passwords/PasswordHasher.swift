import AuthStackCore
import Crypto
import CryptoExtras
import Foundation

/// The outcome of checking a password against a stored hash.
public enum PasswordVerification: Sendable, Equatable {
    /// Wrong password, or a stored hash that cannot be used.
    case mismatch
    /// Right password; `needsRehash` when the stored hash is bcrypt or uses other scrypt parameters than configured.
    case match(needsRehash: Bool)
}

/// Why hashing failed.
public enum PasswordHashingError: Error, Equatable, Sendable {
    /// The password is empty (identity rejects it as `invalid_request` long before this).
    case emptyPassword
    /// The configured parameters are out of bounds.
    case unacceptableParameters
    /// More hashes are running and queued than the cap allows; retry after this many seconds (503 + `Retry-After`).
    case overloaded(retryAfter: Int)
    /// The KDF itself failed (BoringSSL refused the parameters).
    case derivationFailed
}

/// scrypt password hashing (docs/design.md §6): synchronous and CPU-heavy, so call it through ``PasswordHashingPool``.
///
/// Passwords are NFKC-normalised before scrypt (NIST SP 800-63B §5.1.1.2), so the same password typed on two keyboards
/// hashes alike; imported bcrypt hashes are checked against the password exactly as sent, as the old system did.
public struct PasswordHasher: Sendable {
    /// Salt length in bytes.
    public static let saltLength = 16
    /// Derived-key length in bytes.
    public static let hashLength = 32

    /// Parameters for new hashes.
    public let parameters: ScryptParameters
    /// A hash of a random password with the configured parameters: unknown users are checked against it so that
    /// "no such user" costs exactly as much as "wrong password".
    public let dummyHash: String

    /// A hasher for `parameters`; computing the dummy hash costs one hash at start-up.
    public init(parameters: ScryptParameters = .owasp) throws(PasswordHashingError) {
        guard parameters.isAcceptable else { throw .unacceptableParameters }
        self.parameters = parameters
        let salt = SecretBytes.random(count: Self.saltLength).bytes
        let randomPassword = SecretBytes.random(count: 32).bytes
        let derived = try Self.derive(randomPassword, salt: salt, parameters: parameters)
        self.dummyHash = StoredPasswordHash.scrypt(parameters, salt: salt, hash: derived).phcString
    }

    /// A new PHC string for `password` with a fresh 128-bit salt.
    public func hash(_ password: String) throws(PasswordHashingError) -> String {
        let bytes = Self.normalized(password)
        guard !bytes.isEmpty else { throw .emptyPassword }
        let salt = SecretBytes.random(count: Self.saltLength).bytes
        let derived = try Self.derive(bytes, salt: salt, parameters: parameters)
        return StoredPasswordHash.scrypt(parameters, salt: salt, hash: derived).phcString
    }

    /// Checks `password` against `stored` in constant time; an unparseable `stored` never matches.
    public func verify(_ password: String, against stored: String) -> PasswordVerification {
        switch StoredPasswordHash(stored) {
        case .scrypt(let storedParameters, let salt, let expected)?:
            let bytes = Self.normalized(password)
            guard !bytes.isEmpty, let derived = try? Self.derive(bytes, salt: salt, parameters: storedParameters, length: expected.count)
            else { return .mismatch }
            guard ConstantTime.equals(derived, expected) else { return .mismatch }
            return .match(needsRehash: storedParameters != parameters || expected.count != Self.hashLength)
        case .bcrypt(let text)?:
            return BcryptVerifier.verify(password, against: text) ? .match(needsRehash: true) : .mismatch
        case nil:
            return .mismatch
        }
    }

    /// Runs a full verification against ``dummyHash`` and reports a mismatch: the unknown-user path.
    public func verifyUnknownUser(_ password: String) -> PasswordVerification {
        _ = verify(password, against: dummyHash)
        return .mismatch
    }

    /// NFKC-normalised UTF-8 bytes of `password`.
    static func normalized(_ password: String) -> [UInt8] {
        Array(password.precomposedStringWithCompatibilityMapping.utf8)
    }

    static func derive(
        _ password: [UInt8],
        salt: [UInt8],
        parameters: ScryptParameters,
        length: Int = hashLength
    ) throws(PasswordHashingError) -> [UInt8] {
        do {
            let key = try KDF.Scrypt.deriveKey(
                from: password,
                salt: salt,
                outputByteCount: length,
                rounds: parameters.rounds,
                blockSize: parameters.blockSize,
                parallelism: parameters.parallelism
            )
            return key.withUnsafeBytes { Array($0) }
        } catch {
            throw .derivationFailed
        }
    }
}
