import AuthStackCore
import CCrypt

/// Verifies bcrypt hashes imported from an older system (e.g. the original Express app's `bcrypt`), via the system's
/// libxcrypt (`crypt_rn`), comparing the result in constant time.
///
/// Not hummingbird-auth's bcrypt: its check compares with `memcmp` and stops at the first NUL (LESSONS.md). bcrypt
/// itself only reads the first 72 bytes and stops at NUL; a password containing NUL never verifies here, so
/// "abc\0anything" cannot log in as "abc".
enum BcryptVerifier {
    /// `true` when `password` (its UTF-8 bytes, as sent) hashes to `stored` under the salt and cost in `stored`.
    static func verify(_ password: String, against stored: String) -> Bool {
        guard !password.utf8.contains(0), StoredPasswordHash.isBcrypt(stored) else { return false }
        // crypt_data is 32 KiB: keep it off the (small) thread-pool stack.
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        data.initialize(to: crypt_data())
        defer {
            data.deinitialize(count: 1)
            data.deallocate()
        }
        guard let result = crypt_rn(password, stored, data, Int32(MemoryLayout<crypt_data>.size)) else { return false }
        let computed = Array(String(cString: result).utf8)
        return ConstantTime.equals(computed, Array(stored.utf8))
    }
}
