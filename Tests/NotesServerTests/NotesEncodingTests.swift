import Foundation
import NIOCore
import Testing

@testable import NotesServer

/// Timestamps, cursors and response JSON, checked against independent implementations.
@Suite struct NotesEncodingTests {
    @Test func timestampsMatchFoundationAcrossTheRange() {
        var generator = SystemRandomNumberGenerator()
        let fixed: [Int64] = [0, 1, 999_999, 951_782_400_000_000, 1_709_164_800_123_456, 4_107_542_399_999_999, NoteCursor.latestTime]
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        for microseconds in fixed + (0..<2_000).map({ _ in Int64.random(in: 0...NoteCursor.latestTime, using: &generator) }) {
            let seconds = microseconds / 1_000_000
            let expected =
                formatter.string(from: Date(timeIntervalSince1970: Double(seconds))).dropLast()
                + String(format: ".%06dZ", Int(microseconds % 1_000_000))
            #expect(RFC3339Timestamp.string(microseconds) == expected)
        }
        #expect(RFC3339Timestamp.string(NoteCursor.latestTime) == "9999-12-31T23:59:59.999999Z")
    }

    @Test func everyControlCharacterQuoteAndBackslashIsEscapedAndReadsBack() throws {
        let text = String(decoding: (0..<0x80).map { UInt8($0) }, as: UTF8.self) + "é😀\u{2028}"
        var buffer = ByteBuffer()
        NoteJSON.writeString(text, into: &buffer)
        let written = String(buffer: buffer)
        #expect(!written.utf8.dropFirst().dropLast().contains { $0 < 0x20 })
        let decoded = try JSONSerialization.jsonObject(with: Data(written.utf8), options: [.fragmentsAllowed]) as? String
        #expect(decoded.map { Array($0.utf8) } == Array(text.utf8))
    }

    @Test func cursorsRoundTripAndRejectOtherShapes() {
        let note = Note(id: NoteID.generate(), title: "t", body: "", createdAt: 1_800_000_000_000_123, updatedAt: 0)
        let cursor = NoteCursor(after: note)
        #expect(cursor.encoded.utf8.count == 34)
        #expect(NoteCursor(encoded: cursor.encoded) == cursor)
        #expect(NoteCursor(encoded: cursor.encoded.dropLast()) == nil)
        #expect(NoteCursor(encoded: note.id) == nil)
        #expect(NoteCursor(encoded: String(repeating: "A", count: 34)) == nil, "version 0")
    }

    @Test func idsAreDistinctAndWellFormed() {
        let ids = (0..<1_000).map { _ in NoteID.generate() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { NoteID.decode($0)?.count == 16 })
        #expect(NoteID.decode("n_AAAAAAAAAAAAAAAAAAAAAB") == nil, "non-canonical base64url")
        #expect(NoteID.decode("x_AAAAAAAAAAAAAAAAAAAAAA") == nil)
    }
}
