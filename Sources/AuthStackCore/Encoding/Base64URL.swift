/// Strict base64 codecs for JOSE (RFC 7515 §2, base64url without padding) and PHC strings (standard alphabet, no padding).
///
/// Decoding is strict: no padding, no whitespace, no characters outside the alphabet, and the unused low bits of the
/// last character must be zero, so that every byte string has exactly one accepted encoding.
public enum Base64URL {
    @usableFromInline static let urlAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    @usableFromInline static let standardAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Reverse table for the URL alphabet: 0xFF marks an invalid character.
    @usableFromInline static let urlTable: [UInt8] = makeTable(urlAlphabet)
    @usableFromInline static let standardTable: [UInt8] = makeTable(standardAlphabet)

    private static func makeTable(_ alphabet: [UInt8]) -> [UInt8] {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in alphabet.enumerated() { table[Int(character)] = UInt8(value) }
        return table
    }

    /// Number of bytes an unpadded encoding of `count` characters decodes to, or `nil` if no such encoding exists.
    @inlinable
    public static func decodedLength(ofEncodedLength count: Int) -> Int? {
        switch count % 4 {
        case 0: return count / 4 * 3
        case 2: return count / 4 * 3 + 1
        case 3: return count / 4 * 3 + 2
        default: return nil
        }
    }

    /// base64url without padding.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        encode(Array(bytes), alphabet: urlAlphabet)
    }

    /// Standard base64 alphabet without padding (the PHC string format).
    public static func encodeStandardUnpadded(_ bytes: some Sequence<UInt8>) -> String {
        encode(Array(bytes), alphabet: standardAlphabet)
    }

    /// Decodes base64url without padding; `nil` for anything that is not the canonical encoding of some bytes.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        decode(Array(text.utf8), table: urlTable)
    }

    /// Decodes standard base64 without padding (PHC); `nil` when not canonical.
    public static func decodeStandardUnpadded(_ text: some StringProtocol) -> [UInt8]? {
        decode(Array(text.utf8), table: standardTable)
    }

    private static func encode(_ bytes: [UInt8], alphabet: [UInt8]) -> String {
        var output = [UInt8]()
        output.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            output.append(alphabet[Int(value >> 18 & 63)])
            output.append(alphabet[Int(value >> 12 & 63)])
            output.append(alphabet[Int(value >> 6 & 63)])
            output.append(alphabet[Int(value & 63)])
            index += 3
        }
        let remaining = bytes.count - index
        if remaining == 1 {
            let value = UInt32(bytes[index]) << 16
            output.append(alphabet[Int(value >> 18 & 63)])
            output.append(alphabet[Int(value >> 12 & 63)])
        } else if remaining == 2 {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            output.append(alphabet[Int(value >> 18 & 63)])
            output.append(alphabet[Int(value >> 12 & 63)])
            output.append(alphabet[Int(value >> 6 & 63)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func decode(_ input: [UInt8], table: [UInt8]) -> [UInt8]? {
        guard let length = decodedLength(ofEncodedLength: input.count) else { return nil }
        var output = [UInt8](repeating: 0, count: length)
        let ok = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                table.withUnsafeBufferPointer { table in decode(source, into: destination, table: table) == length }
            }
        }
        return ok ? output : nil
    }

    /// Four 256-entry tables in one array: entry `256·k + c` is character `c`'s 6-bit value shifted into position `k` of
    /// a 4-character group, or ``invalidMark`` for characters outside the URL alphabet. One lookup per character and
    /// three ORs per group, with a single validity test: the token decoder's inner loop.
    @usableFromInline static let urlGroupTables: [UInt32] = (0..<4).flatMap { position in
        urlTable.map { value in value == 0xFF ? invalidMark : UInt32(value) << (18 - 6 * UInt32(position)) }
    }
    @usableFromInline static let invalidMark: UInt32 = 0x0100_0000

    /// Decodes base64url from `source` into `destination` (which must hold `decodedLength` bytes).
    /// Returns the number of bytes written, or `nil` when the input is not canonical unpadded base64url.
    @inlinable
    public static func decode(_ source: UnsafeBufferPointer<UInt8>, into destination: UnsafeMutableBufferPointer<UInt8>) -> Int? {
        guard let length = decodedLength(ofEncodedLength: source.count), destination.count >= length else { return nil }
        return urlGroupTables.withUnsafeBufferPointer { tables -> Int? in
            var invalid: UInt32 = 0
            var input = 0
            var output = 0
            while input + 4 <= source.count {
                let group =
                    tables[Int(source[input])] | tables[256 + Int(source[input + 1])]
                    | tables[512 + Int(source[input + 2])] | tables[768 + Int(source[input + 3])]
                invalid |= group
                destination[output] = UInt8(truncatingIfNeeded: group >> 16)
                destination[output + 1] = UInt8(truncatingIfNeeded: group >> 8)
                destination[output + 2] = UInt8(truncatingIfNeeded: group)
                input += 4
                output += 3
            }
            let remaining = source.count - input
            if remaining >= 2 {
                var group = tables[Int(source[input])] | tables[256 + Int(source[input + 1])]
                if remaining == 3 { group |= tables[512 + Int(source[input + 2])] }
                // Canonical form: the bits below the last whole byte must be zero.
                let unusedBits: UInt32 = remaining == 2 ? 0x00FFFF : 0x0000FF
                invalid |= group | (group & unusedBits == 0 ? 0 : invalidMark)
                destination[output] = UInt8(truncatingIfNeeded: group >> 16)
                output += 1
                if remaining == 3 {
                    destination[output] = UInt8(truncatingIfNeeded: group >> 8)
                    output += 1
                }
            }
            return invalid & invalidMark == 0 ? output : nil
        }
    }

    /// Byte-table decoder shared by both alphabets (PHC strings, and anything off the token hot path).
    private static func decode(
        _ source: UnsafeBufferPointer<UInt8>,
        into destination: UnsafeMutableBufferPointer<UInt8>,
        table: UnsafeBufferPointer<UInt8>
    ) -> Int? {
        guard let length = decodedLength(ofEncodedLength: source.count), destination.count >= length else { return nil }
        var invalid: UInt8 = 0
        var input = 0
        var output = 0
        while input + 4 <= source.count {
            let a = table[Int(source[input])]
            let b = table[Int(source[input + 1])]
            let c = table[Int(source[input + 2])]
            let d = table[Int(source[input + 3])]
            invalid |= (a | b | c | d) & 0x80
            let value = UInt32(a & 63) << 18 | UInt32(b & 63) << 12 | UInt32(c & 63) << 6 | UInt32(d & 63)
            destination[output] = UInt8(truncatingIfNeeded: value >> 16)
            destination[output + 1] = UInt8(truncatingIfNeeded: value >> 8)
            destination[output + 2] = UInt8(truncatingIfNeeded: value)
            input += 4
            output += 3
        }
        switch source.count - input {
        case 2:
            let a = table[Int(source[input])]
            let b = table[Int(source[input + 1])]
            invalid |= (a | b) & 0x80
            invalid |= (b & 0x0F) == 0 ? 0 : 0x80  // non-canonical: unused bits set
            destination[output] = (a & 63) << 2 | (b & 63) >> 4
            output += 1
        case 3:
            let a = table[Int(source[input])]
            let b = table[Int(source[input + 1])]
            let c = table[Int(source[input + 2])]
            invalid |= (a | b | c) & 0x80
            invalid |= (c & 0x03) == 0 ? 0 : 0x80
            destination[output] = (a & 63) << 2 | (b & 63) >> 4
            destination[output + 1] = (b & 63) << 4 | (c & 63) >> 2
            output += 2
        default:
            break
        }
        return invalid == 0 ? output : nil
    }
}
