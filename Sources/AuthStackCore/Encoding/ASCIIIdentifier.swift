/// Short identifiers of ASCII letters, digits and a few punctuation characters: key ids, request ids.
///
/// A value that passes can be put into JSON, a path, a log line or a header without escaping, which is why untrusted
/// identifiers are checked with this before they are stored or echoed.
public enum ASCIIIdentifier {
    /// `true` when `value` has 1 to `maximumLength` bytes, each an ASCII letter, a digit or one of `punctuation`.
    public static func isValid(_ value: String, maximumLength: Int, punctuation: StaticString) -> Bool {
        let bytes = value.utf8
        guard !bytes.isEmpty, bytes.count <= maximumLength else { return false }
        let allowed = UnsafeBufferPointer(start: punctuation.utf8Start, count: punctuation.utf8CodeUnitCount)
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default:
                allowed.contains(byte)
            }
        }
    }
}
