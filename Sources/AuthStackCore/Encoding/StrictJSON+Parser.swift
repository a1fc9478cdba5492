extension StrictJSON {
    /// Recursive-descent parser over a byte buffer; one instance per document.
    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0
        /// Member names of the objects being parsed, innermost last, in stack memory the caller provides.
        var names: UnsafeMutableBufferPointer<StringRef>
        var nameCount = 0

        init(bytes: UnsafeBufferPointer<UInt8>, names: UnsafeMutableBufferPointer<StringRef>) {
            self.bytes = bytes
            self.names = names
        }

        @inline(__always)
        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        @inline(__always)
        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        @inline(__always)
        mutating func expect(_ byte: UInt8) throws(Failure) {
            guard index < bytes.count, bytes[index] == byte else { throw .syntax(offset: index) }
            index += 1
        }

        /// Parses an object starting at `{`; `visit` sees each member (nested objects pass a no-op).
        mutating func parseObject(depth: Int, visit: (StringRef, Value) throws(Failure) -> Void) throws(Failure) {
            guard depth <= StrictJSON.maximumDepth else { throw .tooDeep }
            try expect(UInt8(ascii: "{"))
            let base = nameCount
            defer { nameCount = base }
            // Objects with many members switch to hashing, so a hostile header cannot make duplicate checks quadratic.
            var large: Set<[UInt8]>? = nil
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw .syntax(offset: index) }
                let name = try parseString()
                try insert(name, base: base, large: &large)
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

        /// Records a member name of the object whose names start at `base`, rejecting duplicates. Objects of more than
        /// 16 members, or past the name stack's capacity, switch to hashing.
        private mutating func insert(_ name: StringRef, base: Int, large: inout Set<[UInt8]>?) throws(Failure) {
            if large != nil {
                guard large!.insert(StrictJSON.bytes(of: name, in: bytes)).inserted else { throw .duplicateMember }
                return
            }
            for position in base..<nameCount where names[position].prefix == name.prefix && names[position].length == name.length {
                if name.length <= 8 || StrictJSON.bytes(of: names[position], in: bytes) == StrictJSON.bytes(of: name, in: bytes) {
                    throw .duplicateMember
                }
            }
            guard nameCount - base < 16, nameCount < names.count else {
                var set = Set((base..<nameCount).map { StrictJSON.bytes(of: names[$0], in: bytes) })
                set.insert(StrictJSON.bytes(of: name, in: bytes))
                large = set
                return
            }
            names[nameCount] = name
            nameCount += 1
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

        /// Parses a string starting at its opening quote; validates escapes and UTF-8 without copying plain strings.
        mutating func parseString() throws(Failure) -> StringRef {
            try expect(UInt8(ascii: "\""))
            let start = index
            var hasEscapes = false
            var hasNonASCII = false
            let base = bytes.baseAddress!
            while index < bytes.count {
                skipPlainASCII()
                guard index < bytes.count else { break }
                let byte = base[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return try finishString(start: start, end: index - 1, hasEscapes: hasEscapes, hasNonASCII: hasNonASCII)
                }
                if byte < 0x20 { throw .syntax(offset: index) }
                if byte >= 0x80 {
                    hasNonASCII = true
                    index += 1
                    continue
                }
                hasEscapes = true
                try skipEscape()
            }
            throw .syntax(offset: index)
        }

        /// Advances over printable ASCII other than `"` and `\`, eight bytes at a time while it can (SWAR).
        @inline(__always)
        private mutating func skipPlainASCII() {
            let base = UnsafeRawPointer(bytes.baseAddress!)
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            while index + 8 <= bytes.count {
                let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                // A byte is "special" when < 0x20, ≥ 0x80, `"` or `\`; the classic has-zero-byte trick finds each kind.
                let control = (word &- ones &* 0x20) & ~word
                let quote = word ^ (ones &* 0x22)
                let backslash = word ^ (ones &* 0x5C)
                let special = (control | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | word) & highs
                if special != 0 {
                    index += special.trailingZeroBitCount / 8
                    return
                }
                index += 8
            }
            while index < bytes.count {
                let byte = bytes[index]
                guard byte >= 0x20, byte < 0x80, byte != 0x22, byte != 0x5C else { return }
                index += 1
            }
        }

        /// ``StrictJSON/pack(_:)`` for unescaped content: one unaligned 8-byte load and a mask when the buffer allows.
        @inline(__always)
        private func packPlain(start: Int, end: Int) -> UInt64 {
            guard start + 8 <= bytes.count else { return StrictJSON.pack(UnsafeBufferPointer(rebasing: bytes[start..<end])) }
            let word = UInt64(littleEndian: UnsafeRawPointer(bytes.baseAddress!).loadUnaligned(fromByteOffset: start, as: UInt64.self))
            let length = end - start
            return length >= 8 ? word : word & ((1 << (8 * UInt64(length))) - 1)
        }

        /// Validates the finished string and computes its unescaped prefix and length.
        private func finishString(start: Int, end: Int, hasEscapes: Bool, hasNonASCII: Bool) throws(Failure) -> StringRef {
            let raw = UnsafeBufferPointer(rebasing: bytes[start..<end])
            if hasNonASCII, !UTF8Validation.isValid(raw) { throw .invalidUnicode }
            guard hasEscapes else {
                return StringRef(start: start, end: end, hasEscapes: false, prefix: packPlain(start: start, end: end), length: end - start)
            }
            guard let unescaped = Unescaper.unescape(bytes, from: start, to: end) else { throw .invalidUnicode }
            let prefix = unescaped.withUnsafeBufferPointer { StrictJSON.pack($0) }
            return StringRef(start: start, end: end, hasEscapes: true, prefix: prefix, length: unescaped.count)
        }

        /// Skips one escape sequence starting at its backslash, checking its syntax.
        private mutating func skipEscape() throws(Failure) {
            index += 1
            guard index < bytes.count else { throw .syntax(offset: index) }
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
}
