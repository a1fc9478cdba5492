import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import Foundation
import Testing

@testable import NotesServer

/// The notes service's configuration from the environment.
@Suite struct NotesServiceConfigurationTests {
    @Test func defaultsMatchTheDesign() throws {
        let configuration = try NotesServiceConfiguration(environment: [:])
        #expect(configuration.database.path == "data/notes.sqlite")
        #expect(configuration.database.url == nil, "SQLite unless a URL is set")
        #expect(configuration.tokenPolicy.issuer == "authstack")
        #expect(configuration.tokenPolicy.audience == "notes")
        #expect(configuration.tokenPolicy.leeway == 30)
        #expect(configuration.maximumBodyBytes == 1 << 20)
        #expect(configuration.keyring.keyServiceURL == "http://127.0.0.1:8083")
        #expect(configuration.keyring.tokenFile == "keys/notes.token")
        #expect(configuration.keyring.longPollWait == 30)
    }

    @Test func variablesOverrideDefaults() throws {
        let configuration = try NotesServiceConfiguration(environment: [
            "NOTES_DATABASE_PATH": "/var/lib/notes.db", "NOTES_ISSUER": "https://auth.example", "NOTES_AUDIENCE": "memo",
            "NOTES_LEEWAY": "5", "NOTES_MAX_BODY_BYTES": "2097152", "NOTES_KEYS_URL": "http://keys:8083/",
            "NOTES_KEYS_TOKEN_FILE": "/run/secrets/notes.token", "NOTES_KEYS_WAIT": "10",
        ])
        #expect(configuration.database.path == "/var/lib/notes.db")
        #expect(configuration.tokenPolicy == .init(issuer: "https://auth.example", audience: "memo", leeway: 5))
        #expect(configuration.maximumBodyBytes == 2_097_152)
        #expect(configuration.keyring.keyServiceURL == "http://keys:8083")
        #expect(configuration.keyring.tokenFile == "/run/secrets/notes.token")
        #expect(configuration.keyring.longPollWait == 10)
    }

    @Test(arguments: [
        ("NOTES_DATABASE_PATH", ""), ("NOTES_ISSUER", ""), ("NOTES_AUDIENCE", "two words"), ("NOTES_LEEWAY", "-1"), ("NOTES_LEEWAY", "301"),
        ("NOTES_LEEWAY", "soon"), ("NOTES_MAX_BODY_BYTES", "1024"), ("NOTES_MAX_BODY_BYTES", "1MiB"), ("NOTES_KEYS_URL", "ftp://keys"),
        ("NOTES_KEYS_WAIT", "0"), ("NOTES_DATABASE_URL", "mysql://notes@db/notes"),
    ])
    func invalidValuesNameTheVariable(variable: String, value: String) {
        let error = #expect(throws: InvalidSetting.self) { try NotesServiceConfiguration(environment: [variable: value]) }
        #expect(error?.variable == variable)
    }
}
