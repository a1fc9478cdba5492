/// Comparisons whose running time does not depend on where two secrets differ.
///
/// Used for MACs, token hashes and password hashes: an early-exit `==` would let an attacker
/// learn a valid value byte by byte from response timings.
public enum ConstantTime {
    /// `true` when both buffers hold the same bytes; time depends only on the lengths.
    @inlinable
    public static func equals(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<lhs.count {
            difference |= lhs[index] ^ rhs[index]
        }
        return difference == 0
    }

    /// `true` when both byte sequences are equal; time depends only on the lengths.
    @inlinable
    public static func equals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
        let left = Array(lhs)
        let right = Array(rhs)
        return left.withUnsafeBytes { l in right.withUnsafeBytes { r in equals(l, r) } }
    }
}
