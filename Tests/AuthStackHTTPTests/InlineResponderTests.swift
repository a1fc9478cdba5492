import HTTPTypes
import Testing

@testable import AuthStackHTTP

/// The pieces of the inline path that need no server (the server-level behaviour is in `NotesInlineTests`).
@Suite struct InlineResponderTests {
    @Test func dateHeaderIsIMFFixdate() {
        #expect(HTTPDate.format(epochSeconds: 1_800_000_000) == "Fri, 15 Jan 2027 08:00:00 GMT")
        #expect(HTTPDate.format(epochSeconds: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(epochSeconds: 951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        var date = HTTPDate()
        let now = date.now()
        #expect(now.hasSuffix(" GMT") && now.utf8.count == 29, "\(now)")
    }

    @Test func onlyPlainBodilessGetsAreCandidates() {
        func request(_ method: HTTPRequest.Method, _ fields: HTTPFields = [:]) -> HTTPRequest {
            HTTPRequest(method: method, scheme: nil, authority: "notes", path: "/notes", headerFields: fields)
        }
        #expect(InlineResponseHandler.isCandidate(request(.get)))
        #expect(InlineResponseHandler.isCandidate(request(.get, [.authorization: "Bearer x", .contentLength: "0"])))
        #expect(!InlineResponseHandler.isCandidate(request(.head)))
        #expect(!InlineResponseHandler.isCandidate(request(.post)))
        #expect(!InlineResponseHandler.isCandidate(request(.get, [.contentLength: "5"])))
        #expect(!InlineResponseHandler.isCandidate(request(.get, [.transferEncoding: "chunked"])))
        #expect(!InlineResponseHandler.isCandidate(request(.get, [.origin: "https://app.example"])))
        #expect(!InlineResponseHandler.isCandidate(request(.get, [.connection: "close"])))
        #expect(!InlineResponseHandler.isCandidate(request(.get, [.connection: "Upgrade"])))
        #expect(InlineResponseHandler.isCandidate(request(.get, [.connection: "keep-alive"])))
        #expect(InlineResponseHandler.isCandidate(request(.get, [.connection: "Keep-Alive"])))
    }
}
