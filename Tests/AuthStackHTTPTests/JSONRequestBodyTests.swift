import AuthStackCore
import HTTPTypes
import Hummingbird
import NIOCore
import Testing

@testable import AuthStackHTTP

/// The one request-body reader: media type, then size, then strict JSON; every field problem collected.
@Suite struct JSONRequestBodyTests {
    private func request(_ body: String, contentType: String? = "application/json") -> Request {
        var head = HTTPRequest(method: .post, scheme: "http", authority: "localhost", path: "/x")
        if let contentType { head.headerFields[.contentType] = contentType }
        return Request(head: head, body: RequestBody(buffer: ByteBuffer(string: body)))
    }

    @Test func aBodyWithoutContentLengthIsCutOffAtTheLimit() async throws {
        await #expect(throws: ProblemDetails(.payloadTooLarge, detail: "The request body exceeds 16 bytes.")) {
            _ = try await JSONRequestBody.read(request(#"{"title":"longer than sixteen bytes"}"#), limit: 16)
        }
    }

    @Test func onlyApplicationJSONOrNoMediaTypeWithNoBodyIsRead() async throws {
        for type in ["application/json", "Application/JSON", "application/json; charset=utf-8", " application/json ;x=y"] {
            #expect(JSONRequestBody.isJSON(type), "\(type)")
        }
        #expect(JSONRequestBody.isJSON(nil))
        for type in ["application/merge-patch+json", "application/problem+json", "text/json", "application/jsonx", "", "json"] {
            #expect(!JSONRequestBody.isJSON(type), "\(type)")
            await #expect(throws: ProblemDetails(.unsupportedMediaType, detail: "Send the body as application/json.")) {
                _ = try await JSONRequestBody.read(request("{}", contentType: type), limit: 1_024)
            }
        }
        // No media type: only for an empty body. A typeless body is what a cross-site `fetch` can send without a
        // preflight, so it is refused like a form (issue 17, item 5).
        _ = try await JSONRequestBody.read(request("", contentType: nil), limit: 1_024, allowEmpty: true)
        await #expect(throws: ProblemDetails(.unsupportedMediaType, detail: "Send the body as application/json (a body needs a Content-Type).")) {
            _ = try await JSONRequestBody.read(request("{}", contentType: nil), limit: 1_024)
        }
    }

    @Test func aDocumentThatIsNotOneStrictObjectIsOneErrorOnTheWholeDocument() async throws {
        for text in [#"{"a":1,"a":2}"#, "[1]", #"{"a":"#, "", "  ", #"{"a":"\ud800"}"#] {
            do {
                _ = try await JSONRequestBody.read(request(text), limit: 1_024)
                Issue.record("\(text) was read")
            } catch let problem as ProblemDetails {
                #expect(problem.code == .invalidRequest, "\(text)")
                #expect(problem.errors?.map(\.field) == [""], "\(text)")
            }
        }
        let empty = try await JSONRequestBody.read(request(" \n"), limit: 1_024, allowEmpty: true)
        #expect(empty.member("anything") == .absent)
    }

    @Test func membersAreTypedAndProblemsCollected() async throws {
        var body = try await JSONRequestBody.read(request(#"{"s":"a\u00e9","n":null,"o":{"x":[1]},"num":1}"#), limit: 1_024)
        #expect(body.member("s") == .string("aé"))
        #expect(body.member("n") == .null)
        #expect(body.member("o") == .other)
        #expect(body.member("missing") == .absent)
        #expect(body.requiredString("s") == "aé")
        #expect(body.optionalString("n") == nil)
        #expect(body.requiredString("n") == nil)
        #expect(body.optionalString("num") == nil)
        body.reject("s", "is not allowed")
        #expect(body.errors.map(\.field) == ["n", "num", "s"])
        #expect(throws: ProblemDetails.self) { try body.validate() }
    }
}
