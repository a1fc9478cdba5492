import AuthStackService
import Foundation
import Testing

@testable import IdentityServer
@testable import KeyService
@testable import NotesService

/// `*_DATABASE_URL` selects PostgreSQL; without it the SQLite file stays the default. A bad URL is a configuration
/// error naming the variable, never quoting the password.
@Suite struct StorageSelectionTests {
    @Test func sqliteIsTheDefault() throws {
        let keys = try KeyServiceConfiguration(environment: ["KEYS_DATABASE_PATH": "/tmp/k.sqlite"])
        #expect(keys.databaseURL == nil)
        #expect(keys.databasePath == "/tmp/k.sqlite")
        #expect(try IdentityConfiguration(environment: [:]).databaseURL == nil)
        #expect(try KeyServiceConfiguration(environment: ["KEYS_DATABASE_URL": ""]).databaseURL == nil, "empty counts as unset")
        #expect(try IdentityConfiguration(environment: ["IDENTITY_DATABASE_URL": ""]).databaseURL == nil)
        #expect(try NotesServiceConfiguration(environment: [:]).databaseURL == nil)
        #expect(try NotesServiceConfiguration(environment: ["NOTES_DATABASE_URL": ""]).databaseURL == nil)
    }

    @Test func aURLSelectsPostgreSQL() throws {
        let keys = try KeyServiceConfiguration(environment: ["KEYS_DATABASE_URL": "postgres://keys:pw@db:5432/keys?sslmode=disable"])
        #expect(keys.databaseURL?.description == "postgres://keys@db:5432/keys?sslmode=disable")
        let identity = try IdentityConfiguration(environment: ["IDENTITY_DATABASE_URL": "postgresql://identity:pw@db/identity"])
        #expect(identity.databaseURL?.description == "postgres://identity@db:5432/identity?sslmode=prefer")
        let notes = try NotesServiceConfiguration(environment: ["NOTES_DATABASE_URL": "postgres://notes:pw@db:6432/notes?sslmode=require"])
        #expect(notes.databaseURL?.description == "postgres://notes@db:6432/notes?sslmode=require")
    }

    @Test func aBadURLIsAnInvalidSettingOfItsVariable() {
        #expect {
            try KeyServiceConfiguration(environment: ["KEYS_DATABASE_URL": "postgres://keys:hunter2@db:99999/keys"])
        } throws: { error in
            (error as? ServiceSettings.InvalidSetting)?.variable == "KEYS_DATABASE_URL" && !"\(error)".contains("hunter2")
        }
        #expect {
            try IdentityConfiguration(environment: ["IDENTITY_DATABASE_URL": "sqlite:///data/identity.sqlite"])
        } throws: { error in
            (error as? ServiceSettings.InvalidSetting)?.variable == "IDENTITY_DATABASE_URL"
        }
        #expect {
            try NotesServiceConfiguration(environment: ["NOTES_DATABASE_URL": "postgres://notes:hunter2@db/notes?sslmode=maybe"])
        } throws: { error in
            (error as? ServiceSettings.InvalidSetting)?.variable == "NOTES_DATABASE_URL" && !"\(error)".contains("hunter2")
        }
    }
}
