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
    /// Tests only: called with the parameters of every scrypt derivation a verification runs, so that a test can
    /// check that each kind of login pays the configured cost without timing anything.
    var derivationObserver: (@Sendable (ScryptParameters) -> Void)?

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

    /// The longest password bcrypt reads: it ignores every byte after the 72nd.
    public static let bcryptMaximumBytes = 72

    /// Checks `password` against `stored` in constant time; an unparseable `stored` never matches.
    ///
    /// Every call costs at least one scrypt at the configured parameters, whatever `stored` is: an imported bcrypt
    /// hash (3–54 ms here, against ≈ 330 ms for scrypt at the defaults) or scrypt with other parameters also pays one
    /// derivation against ``dummyHash``, so that the time a login takes does not tell which accounts still hold a
    /// cheaper hash (docs/security.md, "Login timing").
    public func verify(_ password: String, against stored: String) -> PasswordVerification {
        switch StoredPasswordHash(stored) {
        case .scrypt(let storedParameters, let salt, let expected)?:
            if storedParameters != parameters { payConfiguredCost(password) }
            let bytes = Self.normalized(password)
            guard !bytes.isEmpty, let derived = try? derive(bytes, salt: salt, parameters: storedParameters, length: expected.count)
            else { return .mismatch }
            guard ConstantTime.equals(derived, expected) else { return .mismatch }
            return .match(needsRehash: storedParameters != parameters || expected.count != Self.hashLength)
        case .bcrypt(let text)?:
            payConfiguredCost(password)
            // bcrypt reads only the first 72 bytes, so a longer password matches every password that shares them —
            // and the rehash after the login would then replace the owner's password with the variant. Refused like a
            // wrong password; the owner of such a password resets it (docs/security.md, "Imported bcrypt hashes").
            guard password.utf8.count <= Self.bcryptMaximumBytes else { return .mismatch }
            return BcryptVerifier.verify(password, against: text) ? .match(needsRehash: true) : .mismatch
        case nil:
            payConfiguredCost(password)
            return .mismatch
        }
    }

    /// Runs a full verification against ``dummyHash`` and reports a mismatch: the unknown-user path.
    public func verifyUnknownUser(_ password: String) -> PasswordVerification {
        payConfiguredCost(password)
        return .mismatch
    }

    /// One scrypt derivation at the configured parameters, whose result is thrown away.
    private func payConfiguredCost(_ password: String) {
        _ = verify(password, against: dummyHash)
    }

    /// NFKC-normalised UTF-8 bytes of `password`.
    static func normalized(_ password: String) -> [UInt8] {
        Array(password.precomposedStringWithCompatibilityMapping.utf8)
    }

    /// ``derive(_:salt:parameters:length:)``, reported to ``derivationObserver``.
    func derive(
        _ password: [UInt8],
        salt: [UInt8],
        parameters: ScryptParameters,
        length: Int = hashLength
    ) throws(PasswordHashingError)
        -> [UInt8]
    {
        derivationObserver?(parameters)
        return try Self.derive(password, salt: salt, parameters: parameters, length: length)
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
