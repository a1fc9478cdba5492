import AuthStackCore
import Testing

@Suite struct Base64URLTests {
    @Test(arguments: [
        ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648VectorsRoundTripWithoutPadding(plain: String, encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(Base64URL.decode(encoded) == Array(plain.utf8))
    }

    @Test func urlAlphabetUsesDashAndUnderscore() {
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.encodeStandardUnpadded([0xFB, 0xFF]) == "+/8")
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64URL.decode("+/8") == nil)
    }

    @Test(arguments: ["Zg==", "Zg=", "Z", "Zm9v!", "Zm 9v", "Zh", "Zm9"])
    func nonCanonicalOrInvalidInputIsRejected(text: String) {
        // "Zh" and "Zm9" carry non-zero unused bits: they would decode to the same bytes as "Zg" and "Zm8".
        #expect(Base64URL.decode(text) == nil)
    }
}

@Suite struct StrictJSONTests {
    private func members(_ text: String) throws(StrictJSON.Failure) -> [String: StrictJSON.Value] {
        var result: [String: StrictJSON.Value] = [:]
        let bytes = Array(text.utf8)
        try bytes.withUnsafeBufferPointer { (buffer: UnsafeBufferPointer<UInt8>) throws(StrictJSON.Failure) in
            try StrictJSON.forEachMember(of: buffer) { name, value in result[StrictJSON.string(of: name, in: buffer)] = value }
        }
        return result
    }

    @Test func readsTopLevelMembersOfEveryType() throws {
        let found = try members(#" { "s" : "x\n\u00e9\ud83d\ude00", "n": -12.5e1, "t": true, "f": false, "z": null, "o": {"a": [1, {}]}, "a": [] } "#)
        guard case .number(let number)? = found["n"] else {
            Issue.record("n")
            return
        }
        #expect(number == -125)
        guard case .bool(true)? = found["t"], case .bool(false)? = found["f"], case .null? = found["z"] else {
            Issue.record("literals")
            return
        }
        guard case .object? = found["o"], case .array? = found["a"], case .string? = found["s"] else {
            Issue.record("containers")
            return
        }
    }

    @Test func decodesEscapesIncludingSurrogatePairs() throws {
        let text = #"{"s":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"}"#
        let bytes = Array(text.utf8)
        var decoded = ""
        try bytes.withUnsafeBufferPointer { (buffer: UnsafeBufferPointer<UInt8>) throws(StrictJSON.Failure) in
            try StrictJSON.forEachMember(of: buffer) { _, value in
                if case .string(let ref) = value { decoded = StrictJSON.string(of: ref, in: buffer) }
            }
        }
        #expect(decoded == "a\"b\\c/d\u{8}\u{c}\n\r\té😀")
    }

    @Test(arguments: [
        "", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{'a':1}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}",
        "{\"a\":-}", "{\"a\":1e}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
        "{\"a\":[1,]}", "{\"a\":1}}", "{\"a\":\"unterminated}", "{\"a\":1 \"b\":2}",
    ])
    func invalidJSONIsASyntaxError(text: String) {
        #expect(throws: StrictJSON.Failure.self) { try members(text) }
    }

    @Test func rootMustBeAnObject() {
        #expect(throws: StrictJSON.Failure.notAnObject) { try members("[1]") }
        #expect(throws: StrictJSON.Failure.notAnObject) { try members("1") }
    }

    @Test(arguments: [#"{"a":1,"a":2}"#, #"{"a":1,"\u0061":2}"#, #"{"x":{"b":1,"b":1}}"#, #"{"x":[{"c":1,"c":1}]}"#])
    func duplicateMembersAreRejectedAtEveryLevel(text: String) {
        #expect(throws: StrictJSON.Failure.duplicateMember) { try members(text) }
    }

    @Test func duplicateDetectionStillWorksPastSixteenMembers() {
        let many = (0..<40).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        #expect(throws: Never.self) { try members("{\(many)}") }
        #expect(throws: StrictJSON.Failure.duplicateMember) { try members("{\(many),\"k3\":0}") }
    }

    @Test func nestingBeyondTheLimitIsRejected() {
        let ok = "{\"a\":" + String(repeating: "[", count: 31) + String(repeating: "]", count: 31) + "}"
        #expect(throws: Never.self) { try members(ok) }
        let deep = "{\"a\":" + String(repeating: "[", count: 32) + String(repeating: "]", count: 32) + "}"
        #expect(throws: StrictJSON.Failure.tooDeep) { try members(deep) }
    }

    @Test func nestedObjectsBeyondTheLimitAreRejected() {
        let ok = String(repeating: "{\"a\":", count: 31) + "1" + String(repeating: "}", count: 31)
        #expect(throws: Never.self) { try members(ok) }
        let deep = String(repeating: "{\"a\":", count: 33) + "1" + String(repeating: "}", count: 33)
        #expect(throws: StrictJSON.Failure.tooDeep) { try members(deep) }
    }

    @Test(arguments: [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xFF], [0x80]] as [[UInt8]])
    func invalidUTF8InStringsIsRejected(bad: [UInt8]) {
        let bytes = Array(#"{"a":""#.utf8) + bad + Array(#""}"#.utf8)
        #expect(throws: StrictJSON.Failure.invalidUnicode) {
            try bytes.withUnsafeBufferPointer { (buffer: UnsafeBufferPointer<UInt8>) throws(StrictJSON.Failure) in
                try StrictJSON.forEachMember(of: buffer) { _, _ in }
            }
        }
    }

    @Test(arguments: [#"{"a":"\ud800"}"#, #"{"a":"\udc00"}"#, #"{"a":"\ud800\u0041"}"#])
    func loneSurrogatesAreRejected(text: String) {
        #expect(throws: StrictJSON.Failure.invalidUnicode) { try members(text) }
    }

    @Test func controlCharactersMustBeEscaped() {
        #expect(throws: StrictJSON.Failure.self) { try members("{\"a\":\"\t\"}") }
    }

    @Test func largeAndSmallNumbersParse() throws {
        let found = try members(#"{"big":123456789012345678901,"exp":1e400,"tiny":5e-324,"neg0":-0}"#)
        guard case .number(let big)? = found["big"], case .number(let huge)? = found["exp"] else {
            Issue.record("numbers")
            return
        }
        #expect(big == 1.2345678901234568e20)
        #expect(huge.isInfinite)
    }
}

/// Documents wider or deeper than the parser's stack of member names still get full duplicate detection.
@Suite struct StrictJSONNameStackTests {
    private func parse(_ text: String) throws(StrictJSON.Failure) {
        let bytes = Array(text.utf8)
        try bytes.withUnsafeBufferPointer { (buffer: UnsafeBufferPointer<UInt8>) throws(StrictJSON.Failure) in
            try StrictJSON.forEachMember(of: buffer) { _, _ in }
        }
    }

    /// Five nested objects of 15 members each: 75 names, more than the 40-slot stack.
    private func nested(duplicateAtDepth depth: Int?) -> String {
        var text = ""
        for level in 0..<5 {
            let members = (0..<15).map { "\"m\(level)_\($0)\":\($0)" }.joined(separator: ",")
            let duplicate = depth == level ? ",\"m\(level)_3\":0" : ""
            text += "{" + members + duplicate + ",\"next\":"
        }
        return text + "null" + String(repeating: "}", count: 5)
    }

    @Test func deepWideDocumentWithoutDuplicatesParses() {
        #expect(throws: Never.self) { try parse(nested(duplicateAtDepth: nil)) }
    }

    @Test(arguments: [0, 2, 4])
    func duplicateAtAnyDepthIsFoundPastTheStackCapacity(depth: Int) {
        #expect(throws: StrictJSON.Failure.duplicateMember) { try parse(nested(duplicateAtDepth: depth)) }
    }
}
