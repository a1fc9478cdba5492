import AuthStackCore
import AuthStackHTTP
import AuthStackTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import NotesServer

/// Every forged token of ``JWTAttacks`` gets 401 `invalid_token` at `GET /notes`; the control token passes.
@Suite struct JWTAttackTests {
    @Test func notesRejectsEveryAttack() async throws {
        try await NotesFixture().application(source: FixedKeyringSource(JWTAttacks.keyring)).test(.router) { client in
            try await client.execute(uri: "/notes", method: .get, headers: [.authorization: "Bearer \(JWTAttacks.valid)"]) { response throws in
                #expect(response.status == .ok, "the control token must pass")
            }
            for (name, token) in JWTAttacks.attacks {
                try await client.execute(uri: "/notes", method: .get, headers: [.authorization: "Bearer \(token)"]) { response throws in
                    #expect(response.status == .unauthorized, "\(name)")
                    #expect(try NotesHTTP.problemCode(response) == "invalid_token", "\(name)")
                }
            }
        }
    }
}
