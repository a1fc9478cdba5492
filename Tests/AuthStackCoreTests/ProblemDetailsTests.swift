import AuthStackCore
import Foundation
import Testing

@Suite struct ProblemDetailsTests {
    @Test func codesAreSnakeCaseAndUnique() {
        let raw = ProblemCode.allCases.map(\.rawValue)
        #expect(Set(raw).count == raw.count)
        #expect(raw.allSatisfy { $0.allSatisfy { $0.isLowercase || $0 == "_" } })
    }

    @Test(arguments: [
        (ProblemCode.invalidRequest, 400), (.usernameTaken, 409), (.rateLimited, 429), (.invalidCredentials, 401),
        (.invalidRefreshToken, 401), (.refreshTokenReused, 401), (.invalidToken, 401), (.tokenExpired, 401), (.missingToken, 401),
        (.sessionNotFound, 404), (.noteNotFound, 404), (.payloadTooLarge, 413), (.rotationTooSoon, 409), (.keyringFull, 409),
        (.clientNotFound, 404), (.clientExists, 409), (.clientLimitReached, 409), (.lastAdmin, 409),
        (.forbidden, 403), (.unauthorized, 401), (.serviceUnavailable, 503), (.methodNotAllowed, 405), (.requestTimeout, 408),
        (.badGateway, 502),
    ])
    func eachCodeHasTheStatusOfTheDesign(code: ProblemCode, status: Int) {
        #expect(code.status == status)
    }

    @Test func bodyIsRFC9457WithCodeAndFieldErrors() throws {
        let problem = ProblemDetails(.invalidRequest, detail: "username is invalid", errors: [.init(field: "username", message: "3–32 characters")])
        let object = try JSONSerialization.jsonObject(with: problem.jsonBody()) as! [String: Any]
        #expect(object["type"] as? String == "urn:authstack:problem:invalid_request")
        #expect(object["title"] as? String == "The request is invalid")
        #expect(object["status"] as? Int == 400)
        #expect(object["code"] as? String == "invalid_request")
        #expect(object["detail"] as? String == "username is invalid")
        let errors = try #require(object["errors"] as? [[String: String]])
        #expect(errors == [["field": "username", "message": "3–32 characters"]])
        #expect(object["retryAfter"] == nil && object["retry_after"] == nil, "Retry-After is a header, not a body member")
        #expect(ProblemDetails.mediaType == "application/problem+json")
    }

    @Test func fieldErrorsAreOmittedWhenAbsent() throws {
        let object = try JSONSerialization.jsonObject(with: ProblemDetails(.noteNotFound, detail: "x").jsonBody()) as! [String: Any]
        #expect(object["errors"] == nil)
    }
}
