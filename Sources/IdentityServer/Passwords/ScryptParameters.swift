import AuthStackCore

/// Cost parameters of scrypt (RFC 7914), carried in every stored hash so they can change without breaking old ones.
public struct ScryptParameters: Sendable, Equatable, CustomStringConvertible {
    /// OWASP's first choice: N = 2^17, r = 8, p = 1 (128 MiB per hash).
    public static let owasp = ScryptParameters(logN: 17, blockSize: 8, parallelism: 1)
    /// Bounds accepted when parsing a stored hash, so a tampered row cannot make one login allocate gigabytes.
    static let maximumLogN: UInt8 = 20
    static let maximumMemoryBytes = 512 * 1024 * 1024

    /// log2 of the CPU/memory cost N.
    public var logN: UInt8
    /// Block size r.
    public var blockSize: Int
    /// Parallelism p.
    public var parallelism: Int

    /// Parameters; see ``isAcceptable`` for the bounds.
    public init(logN: UInt8, blockSize: Int, parallelism: Int) {
        self.logN = logN
        self.blockSize = blockSize
        self.parallelism = parallelism
    }

    /// N = 2^logN.
    public var rounds: Int { 1 << Int(logN) }

    /// Memory one hash needs: 128 · r · N · p bytes (plus a page), which times the concurrency cap must fit the container.
    public var memoryBytes: Int { 128 * blockSize * rounds * parallelism }

    /// Within the bounds this implementation accepts (1 ≤ logN ≤ 20, r, p ≥ 1, memory ≤ 512 MiB).
    public var isAcceptable: Bool {
        logN >= 1 && logN <= Self.maximumLogN && blockSize >= 1 && blockSize <= 64 && parallelism >= 1 && parallelism <= 64
            && memoryBytes <= Self.maximumMemoryBytes
    }

    /// `ln=17,r=8,p=1`, the PHC parameter string.
    public var description: String { "ln=\(logN),r=\(blockSize),p=\(parallelism)" }
}
