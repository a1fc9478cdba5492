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
    ///
    /// `prefix` and `length` describe the *unescaped* content: its first eight bytes packed little-endian
    /// (zero-padded) and its byte count. For strings of up to eight bytes the pair identifies the string exactly, so
    /// member names are compared and dispatched on two integers instead of byte loops (see ``Literal``).
    public struct StringRef: Sendable {
        // 32-bit offsets keep a reference at 24 bytes, so the values the visitor receives copy cheaply; documents are
        // limited to `Int32.max` bytes (``forEachMember(of:_:)`` rejects larger ones).
        @usableFromInline let storedStart: Int32
        @usableFromInline let storedEnd: Int32
        @usableFromInline let storedLength: Int32
        /// `true` when the content holds backslash escapes and must be decoded before use.
        public let hasEscapes: Bool
        /// First eight unescaped bytes, little-endian, zero-padded.
        public let prefix: UInt64

        /// Offset of the first content byte.
        @inlinable public var start: Int { Int(storedStart) }
        /// Offset just past the last content byte.
        @inlinable public var end: Int { Int(storedEnd) }
        /// Unescaped length in bytes.
        @inlinable public var length: Int { Int(storedLength) }

        init(start: Int, end: Int, hasEscapes: Bool, prefix: UInt64, length: Int) {
            storedStart = Int32(truncatingIfNeeded: start)
            storedEnd = Int32(truncatingIfNeeded: end)
            storedLength = Int32(truncatingIfNeeded: length)
            self.hasEscapes = hasEscapes
            self.prefix = prefix
        }

        /// `true` when the unescaped content equals `literal`: two integer comparisons, since literals are ≤ 8 bytes.
        @inlinable
        public func matches(_ literal: Literal) -> Bool {
            prefix == literal.prefix && length == literal.length
        }
    }

    /// A string of at most eight bytes known at compile time, packed like ``StringRef/prefix``.
    ///
    /// The hot path spells its literals as `Literal(prefix:length:)` constants, which compile to immediates; building
    /// them with `Literal(_:)` in a `static let` would cost a `swift_once` check on every use. A test checks each
    /// constant against `Literal(_:)`.
    public struct Literal: Sendable, Equatable {
        /// The bytes, little-endian, zero-padded.
        public let prefix: UInt64
        /// Length in bytes, 0–8.
        public let length: Int

        /// A literal from its packed form.
        @inlinable
        public init(prefix: UInt64, length: Int) {
            self.prefix = prefix
            self.length = length
        }

        /// Packs `text`, which must be at most eight bytes long.
        public init(_ text: StaticString) {
            precondition(text.utf8CodeUnitCount <= 8, "literals are at most eight bytes")
            self.length = text.utf8CodeUnitCount
            self.prefix = StrictJSON.pack(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
    }

    /// The first eight bytes of `bytes`, little-endian, zero-padded.
    @inlinable
    static func pack(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<min(bytes.count, 8) { value |= UInt64(bytes[index]) << (8 * UInt64(index)) }
        return value
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

    /// Capacity of the member-name stack a document is parsed with. 40 names of 24 bytes stay under the 1 KiB up to
    /// which `withUnsafeTemporaryAllocation` uses the stack (beyond it, it mallocs); deeper or wider documents still
    /// parse, with hashing for the objects that do not fit.
    static let nameStackCapacity = 40

    /// Parses `bytes` as one JSON object and calls `visit` for every top-level member, in document order.
    public static func forEachMember(
        of bytes: UnsafeBufferPointer<UInt8>,
        _ visit: (StringRef, Value) throws(Failure) -> Void
    ) throws(Failure) {
        guard bytes.count < Int32.max else { throw .syntax(offset: 0) }
        try withUnsafeTemporaryAllocation(of: StringRef.self, capacity: nameStackCapacity) { names in
            Result { () throws(Failure) in
                var parser = Parser(bytes: bytes, names: names)
                parser.skipWhitespace()
                guard parser.peek() == UInt8(ascii: "{") else {
                    throw parser.index < bytes.count ? .notAnObject : .syntax(offset: parser.index)
                }
                try parser.parseObject(depth: 1, visit: visit)
                parser.skipWhitespace()
                guard parser.index == bytes.count else { throw .syntax(offset: parser.index) }
            }
        }.get()
    }

    /// Calls `visit` for each element of an array value that ``forEachMember(of:_:)`` reported (already validated).
    public static func forEachElement(
        ofArray range: Range<Int>,
        in bytes: UnsafeBufferPointer<UInt8>,
        _ visit: (Value) throws(Failure) -> Void
    ) throws(Failure) {
        try withUnsafeTemporaryAllocation(of: StringRef.self, capacity: nameStackCapacity) { names in
            Result { () throws(Failure) in
                var parser = Parser(bytes: bytes, names: names)
                parser.index = range.lowerBound
                try parser.parseArray(depth: 1, visit: visit)
            }
        }.get()
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

    @usableFromInline
    static func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        for offset in 0..<count where a[offset] != b[offset] { return false }
        return true
    }
}
