/// A strict RFC 8259 JSON reader for JOSE headers and claims, built for the token hot path.
///
/// It validates the whole document (grammar, UTF-8, nesting depth, no duplicate member names at any level, as RFC 7515
/// §5.2 and RFC 8725 §3.8 ask of a careful verifier) and reports each top-level member of the root object to a visitor
/// without building a tree. Foundation's `JSONDecoder` would accept duplicate members (last one wins) and costs more
/// than the whole verification budget, which is why the token verifier does not use it.
public enum StrictJSON {
    /// Maximum nesting of objects and arrays; deeper documents are rejected rather than risking the stack.
    public static let maximumDepth = 32

    /// Why a document was rejected.
    public enum Failure: Error, Equatable, Sendable {
        /// The bytes are not a JSON text (with the byte offset where parsing stopped).
        case syntax(offset: Int)
        /// The root value is not an object.
        case notAnObject
        /// An object has two members with the same (unescaped) name.
        case duplicateMember
        /// Objects or arrays are nested deeper than ``maximumDepth``.
        case tooDeep
        /// A string is not valid UTF-8, or a `\u` escape names a lone surrogate.
        case invalidUnicode
    }

    /// A string inside the scanned buffer: byte range of its content (without quotes) and whether it holds escapes.
    public struct StringRef: Sendable {
        /// Offset of the first content byte.
        public let start: Int
        /// Offset just past the last content byte.
        public let end: Int
        /// `true` when the content holds backslash escapes and must be decoded before use.
        public let hasEscapes: Bool
    }

    /// A member value as the visitor sees it.
    public enum Value: Sendable {
        case string(StringRef)
        case number(Double)
        case bool(Bool)
        case null
        /// A nested object, validated; its bytes are `range` (brackets included).
        case object(Range<Int>)
        /// An array, validated; its bytes are `range` (brackets included). ``forEachElement(ofArray:in:_:)`` walks it.
        case array(Range<Int>)
    }

    /// Parses `bytes` as one JSON object and calls `visit` for every top-level member, in document order.
    public static func forEachMember(
        of bytes: UnsafeBufferPointer<UInt8>,
        _ visit: (StringRef, Value) throws(Failure) -> Void
    ) throws(Failure) {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        guard parser.peek() == UInt8(ascii: "{") else {
            throw parser.index < bytes.count ? .notAnObject : .syntax(offset: parser.index)
        }
        try parser.parseObject(depth: 1, visit: visit)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw .syntax(offset: parser.index) }
    }

    /// Calls `visit` for each element of an array value that ``forEachMember(of:_:)`` reported (already validated).
    public static func forEachElement(
        ofArray range: Range<Int>,
        in bytes: UnsafeBufferPointer<UInt8>,
        _ visit: (Value) throws(Failure) -> Void
    ) throws(Failure) {
        var parser = Parser(bytes: bytes)
        parser.index = range.lowerBound
        try parser.parseArray(depth: 1, visit: visit)
    }

    /// The unescaped UTF-8 bytes of a string found by ``forEachMember(of:_:)``.
    public static func bytes(of ref: StringRef, in buffer: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        if !ref.hasEscapes { return Array(buffer[ref.start..<ref.end]) }
        return Unescaper.unescape(buffer, from: ref.start, to: ref.end) ?? []
    }

    /// The string found by ``forEachMember(of:_:)``.
    public static func string(of ref: StringRef, in buffer: UnsafeBufferPointer<UInt8>) -> String {
        if !ref.hasEscapes { return String(decoding: UnsafeBufferPointer(rebasing: buffer[ref.start..<ref.end]), as: UTF8.self) }
        return String(decoding: bytes(of: ref, in: buffer), as: UTF8.self)
    }

    /// `true` when the string's unescaped content equals `literal` byte for byte.
    @inlinable
    public static func string(_ ref: StringRef, in buffer: UnsafeBufferPointer<UInt8>, equals literal: StaticString) -> Bool {
        if ref.hasEscapes {
            return bytes(of: ref, in: buffer).elementsEqual(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
        }
        guard ref.end - ref.start == literal.utf8CodeUnitCount else { return false }
        return memcmpEqual(buffer.baseAddress! + ref.start, literal.utf8Start, literal.utf8CodeUnitCount)
    }

    @usableFromInline
    static func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        for offset in 0..<count where a[offset] != b[offset] { return false }
        return true
    }
}

extension StrictJSON {
    /// Recursive-descent parser over a byte buffer; one instance per document.
    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func expect(_ byte: UInt8) throws(Failure) {
            guard index < bytes.count, bytes[index] == byte else { throw .syntax(offset: index) }
            index += 1
        }

        /// Parses an object starting at `{`; `visit` sees each member (nested objects pass a no-op).
        mutating func parseObject(depth: Int, visit: (StringRef, Value) throws(Failure) -> Void) throws(Failure) {
            guard depth <= StrictJSON.maximumDepth else { throw .tooDeep }
            try expect(UInt8(ascii: "{"))
            var names = MemberNames()
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw .syntax(offset: index) }
                let name = try parseString()
                try names.insert(name, in: bytes)
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                let value = try parseValue(depth: depth)
                try visit(name, value)
                skipWhitespace()
                guard let next = peek() else { throw .syntax(offset: index) }
                index += 1
                if next == UInt8(ascii: "}") { return }
                guard next == UInt8(ascii: ",") else { throw .syntax(offset: index - 1) }
            }
        }

        mutating func parseArray(depth: Int, visit: (Value) throws(Failure) -> Void) throws(Failure) {
            guard depth <= StrictJSON.maximumDepth else { throw .tooDeep }
            try expect(UInt8(ascii: "["))
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                let value = try parseValue(depth: depth)
                try visit(value)
                skipWhitespace()
                guard let next = peek() else { throw .syntax(offset: index) }
                index += 1
                if next == UInt8(ascii: "]") { return }
                guard next == UInt8(ascii: ",") else { throw .syntax(offset: index - 1) }
            }
        }

        mutating func parseValue(depth: Int) throws(Failure) -> Value {
            guard let byte = peek() else { throw .syntax(offset: index) }
            switch byte {
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "{"):
                let start = index
                try parseObject(depth: depth + 1) { (_, _) throws(Failure) in }
                return .object(start..<index)
            case UInt8(ascii: "["):
                let start = index
                try parseArray(depth: depth + 1) { (_) throws(Failure) in }
                return .array(start..<index)
            case UInt8(ascii: "t"):
                try parseLiteral("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try parseLiteral("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try parseLiteral("null")
                return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return .number(try parseNumber())
            default:
                throw .syntax(offset: index)
            }
        }

        mutating func parseLiteral(_ literal: StaticString) throws(Failure) {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count,
                StrictJSON.memcmpEqual(bytes.baseAddress! + index, literal.utf8Start, count)
            else { throw .syntax(offset: index) }
            index += count
        }

        /// Parses a string starting at its opening quote; validates escapes and UTF-8 without copying.
        mutating func parseString() throws(Failure) -> StringRef {
            try expect(UInt8(ascii: "\""))
            let start = index
            var hasEscapes = false
            var hasNonASCII = false
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let ref = StringRef(start: start, end: index, hasEscapes: hasEscapes)
                    index += 1
                    if hasNonASCII, !UTF8Validation.isValid(UnsafeBufferPointer(rebasing: bytes[start..<ref.end])) {
                        throw .invalidUnicode
                    }
                    if hasEscapes, Unescaper.unescape(bytes, from: start, to: ref.end) == nil { throw .invalidUnicode }
                    return ref
                }
                if byte < 0x20 { throw .syntax(offset: index) }
                if byte >= 0x80 { hasNonASCII = true }
                if byte == UInt8(ascii: "\\") {
                    hasEscapes = true
                    index += 1
                    guard index < bytes.count else { break }
                    switch bytes[index] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                        UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        index += 1
                    case UInt8(ascii: "u"):
                        guard index + 4 < bytes.count else { throw .syntax(offset: index) }
                        for offset in 1...4 where Unescaper.hexValue(bytes[index + offset]) == nil {
                            throw .syntax(offset: index + offset)
                        }
                        index += 5
                    default:
                        throw .syntax(offset: index)
                    }
                    continue
                }
                index += 1
            }
            throw .syntax(offset: index)
        }

        /// Parses an RFC 8259 number; integers of up to 15 digits take a fast path without `strtod`.
        mutating func parseNumber() throws(Failure) -> Double {
            let start = index
            var negative = false
            if peek() == UInt8(ascii: "-") {
                negative = true
                index += 1
            }
            guard let first = peek(), first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { throw .syntax(offset: index) }
            var integer: UInt64 = 0
            var digits = 0
            if first == UInt8(ascii: "0") {
                index += 1
            } else {
                while let digit = peek(), digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") {
                    if digits < 18 { integer = integer &* 10 &+ UInt64(digit &- UInt8(ascii: "0")) }
                    digits += 1
                    index += 1
                }
            }
            var isInteger = true
            if peek() == UInt8(ascii: ".") {
                isInteger = false
                index += 1
                try skipDigits()
            }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                isInteger = false
                index += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
                try skipDigits()
            }
            if isInteger, digits <= 15 {
                let value = Double(integer)
                return negative ? -value : value
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let value = Double(text) else { throw .syntax(offset: start) }
            return value
        }

        mutating func skipDigits() throws(Failure) {
            let start = index
            while let digit = peek(), digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") { index += 1 }
            guard index > start else { throw .syntax(offset: index) }
        }
    }

    /// The member names of one object, for duplicate detection (linear for small objects, hashed for large ones).
    struct MemberNames {
        private var small: [StringRef] = []
        private var large: Set<[UInt8]>? = nil

        mutating func insert(_ name: StringRef, in bytes: UnsafeBufferPointer<UInt8>) throws(Failure) {
            if var set = large {
                large = nil
                guard set.insert(StrictJSON.bytes(of: name, in: bytes)).inserted else { throw .duplicateMember }
                large = set
                return
            }
            for other in small where Self.same(other, name, in: bytes) { throw .duplicateMember }
            small.append(name)
            if small.count > 16 {
                large = Set(small.map { StrictJSON.bytes(of: $0, in: bytes) })
                small = []
            }
        }

        private static func same(_ a: StringRef, _ b: StringRef, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            if !a.hasEscapes, !b.hasEscapes {
                let length = a.end - a.start
                guard length == b.end - b.start else { return false }
                return StrictJSON.memcmpEqual(bytes.baseAddress! + a.start, bytes.baseAddress! + b.start, length)
            }
            return StrictJSON.bytes(of: a, in: bytes) == StrictJSON.bytes(of: b, in: bytes)
        }
    }
}
