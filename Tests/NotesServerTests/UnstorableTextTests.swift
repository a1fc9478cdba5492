import AuthStackCore
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import NotesServer

/// U+0000, which PostgreSQL `text` cannot hold (it answers "invalid byte sequence … 0x00"), is bad input with a precise
/// 4xx on both backends, never a 500 from PostgreSQL nor a different answer from SQLite: checked before any database
/// access. (Note titles and bodies with U+0000 are 400 on both backends: NotesStorageHTTPTests.)
@Suite(.timeLimit(.minutes(2))) struct UnstorableTextTests {
    /// Subjects no AuthStack id can be, that reach a database as the notes' owner or identity's user id.
    static let subjects = ["user-alice\u{0}", "\u{0}", "u_a\u{0}b"]

    @Test(arguments: StoreKind.tested)
    func aNotesTokenWhoseSubjectHoldsU0000IsAnInvalidToken(kind: StoreKind) async throws {
        try await TestDatabase.with(kind) { database in
            let fixture = NotesFixture().on(database)
            try await fixture.application().test(.router) { client in
                let id = try #require(try await NotesHTTP.create(client, token: fixture.token(), title: "mine")["id"] as? String)
                for subject in Self.subjects {
                    let token = fixture.token(for: subject)
                    let requests: [(String, HTTPRequest.Method, String?)] = [
                        ("/notes", .get, nil), ("/notes", .post, #"{"title":"t"}"#), ("/notes/\(id)", .get, nil),
                        ("/notes/\(id)", .patch, #"{"title":"t"}"#), ("/notes/\(id)", .delete, nil),
                    ]
                    for (uri, method, body) in requests {
                        let response = try await client.execute(
                            uri: uri,
                            method: method,
                            headers: NotesHTTP.jsonHeaders(token),
                            body: body.map { NotesHTTP.body($0) } ?? ByteBuffer()
                        )
                        #expect(response.status == .unauthorized, "\(method) \(uri) \(subject.debugDescription)")
                        #expect(try NotesHTTP.problemCode(response) == "invalid_token")
                        #expect(response.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true)
                    }
                }
                let note = try await client.execute(uri: "/notes/\(id)", method: .get, headers: NotesHTTP.bearer(fixture.token()))
                #expect(note.status == .ok, "the owner's note is untouched")
            }
        }
    }
}
