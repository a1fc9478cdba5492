import Foundation
import Hummingbird
import Logging
import Testing

@testable import AuthStackHTTP

/// One log shape: JSON lines whose numbers are JSON numbers and whose request id appears once.
@Suite struct JSONLogHandlerTests {
    private func fields(_ metadata: Logger.Metadata, handlerMetadata: Logger.Metadata = [:]) throws -> [String: Any] {
        var handler = JSONLogHandler(service: "notes", level: .info)
        handler.metadata = handlerMetadata
        let event = LogEvent(
            level: .info,
            message: "request",
            metadata: metadata,
            source: "test",
            file: #file,
            function: #function,
            line: #line
        )
        let line = try #require(handler.line(for: event, at: Date(timeIntervalSince1970: 1_800_000_000)))
        #expect(line.last == 0x0A, "one line")
        return try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
    }

    @Test func theAccessLinesNumbersAreJSONNumbers() throws {
        let elapsed = RequestLogMiddleware<BasicRequestContext>.durationMilliseconds(.microseconds(446_558))
        #expect(elapsed == 446.558)
        let line = try fields(["status": .stringConvertible(200), "duration_ms": .stringConvertible(elapsed), "route": .string("/notes")])
        #expect(line["status"] as? Int == 200)
        #expect(line["duration_ms"] as? Double == 446.558)
        #expect(line["route"] as? String == "/notes")
        #expect(line["service"] as? String == "notes" && line["level"] as? String == "info" && line["msg"] as? String == "request")
    }

    @Test func theRequestIDAppearsOnceAsRequestID() throws {
        let both = try fields(["request_id": .string("abc"), "hb.request.id": .string("abc")])
        #expect(both["request_id"] as? String == "abc")
        #expect(both["hb.request.id"] == nil)
        let hummingbirdOnly = try fields([:], handlerMetadata: ["hb.request.id": .string("def")])
        #expect(hummingbirdOnly["request_id"] as? String == "def", "Hummingbird's own lines carry it under the same name")
        #expect(hummingbirdOnly["hb.request.id"] == nil)
    }
}
