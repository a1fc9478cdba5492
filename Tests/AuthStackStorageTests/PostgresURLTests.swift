import AuthStackCore
import AuthStackStorage
import Foundation
import Testing

@testable import AuthStackStorage

/// `*_DATABASE_URL` parsing: libpq's URL form, strictly, and never a password in a description or an error.
@Suite struct PostgresURLTests {
    private func parse(_ text: String) throws -> PostgresURL { try PostgresURL(text, variable: "KEYS_DATABASE_URL") }

    @Test func aFullURLGivesEveryPart() throws {
        let url = try parse("postgres://keys:s3cret@db.internal:6543/authstack?sslmode=require")
        #expect(url.host == "db.internal")
        #expect(url.port == 6543)
        #expect(url.username == "keys")
        #expect(url.password == "s3cret")
        #expect(url.database == "authstack")
        #expect(url.tlsMode == .require)
    }

    @Test func defaultsAndTheLongSchemeFollowLibpq() throws {
        let url = try parse("postgresql://keys@127.0.0.1/keys")
        #expect(url.port == 5432)
        #expect(url.password == nil)
        #expect(url.tlsMode == .prefer)
        #expect(try parse("POSTGRES://k@h/d?sslmode=disable").tlsMode == .disable)
        #expect(try parse("postgres://k@h/d?sslmode=verify-full").tlsMode == .require)
    }

    @Test func percentEscapesAndIPv6AreDecoded() throws {
        let url = try parse("postgres://us%40er:p%3Aa%2Fss%40@[::1]:5433/my%20db")
        #expect(url.username == "us@er")
        #expect(url.password == "p:a/ss@")
        #expect(url.host == "::1")
        #expect(url.port == 5433)
        #expect(url.database == "my db")
        #expect(url.description == "postgres://us@er@[::1]:5433/my db?sslmode=prefer")
    }

    @Test func theDescriptionLeavesThePasswordOut() throws {
        let url = try parse("postgres://keys:hunter2-secret@db:5432/keys")
        #expect(url.description == "postgres://keys@db:5432/keys?sslmode=prefer")
        #expect(!"\(url)".contains("hunter2-secret"))
        #expect(url.with(database: "other").password == "hunter2-secret")
    }

    @Test(arguments: [
        "", "keys.sqlite", "mysql://u:p@h/d", "postgres:/u@h/d", "postgres://u:p@h", "postgres://h/d", "postgres://:p@h/d",
        "postgres://u:p@/d", "postgres://u:p@h:0/d", "postgres://u:p@h:65536/d", "postgres://u:p@h:54x/d", "postgres://u:p@h:/d",
        "postgres://u:p@h/", "postgres://u:p@h/d/e", "postgres://u:p@h/d?sslmode=verify-ca", "postgres://u:p@h/d?sslmode=disable&sslmode=require",
        "postgres://u:p@h/d?application_name=x", "postgres://u:p@h/d#x", "postgres://u:p@x@h/d",
        "postgres://u:p%zz@h/d", "postgres://u:p@h o/d", "postgres://u:p@[::1/d", "postgres://u:p@[::1]x/d", "postgres://u:p@h,h2/d",
    ])
    func malformedURLsAreRefusedNamingTheVariableButNotTheValue(text: String) {
        #expect {
            try parse(text.replacingOccurrences(of: ":p@", with: ":pa55word@"))
        } throws: { error in
            guard let error = error as? InvalidSetting else { return false }
            return error.variable == "KEYS_DATABASE_URL" && !error.description.contains("pa55word")
        }
    }
}
