/// Secret key material that never prints itself.
///
/// `description`, `debugDescription` and reflection all show `<redacted>`, so a secret that ends up in a log
/// interpolation, an error or a `dump` leaks nothing (docs/design.md §4, §10).
public struct SecretBytes: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The raw bytes. Read them only to key a MAC, encrypt them, or serialise the keyring for an authenticated client.
    public let bytes: [UInt8]

    /// Wraps `bytes` as a secret.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Fresh secret of `count` bytes from the system CSPRNG (`getrandom` on Linux).
    public static func random(count: Int) -> SecretBytes {
        // Eight bytes per draw: every draw is a `getrandom` call, so byte-wise drawing cost 16 syscalls per `jti`.
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 7)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next()) { bytes.append(contentsOf: $0) }
        }
        return SecretBytes(Array(bytes.prefix(count)))
    }

    /// Number of bytes.
    public var count: Int { bytes.count }

    /// Always `<redacted>`.
    public var description: String { "<redacted>" }
    /// Always `<redacted>`.
    public var debugDescription: String { "<redacted>" }
    /// Shows no children, so `dump` and `Mirror` reveal nothing.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// Constant-time equality: secrets are compared without an early exit.
    public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
        ConstantTime.equals(lhs.bytes, rhs.bytes)
    }
}
