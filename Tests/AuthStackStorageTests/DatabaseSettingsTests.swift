import AuthStackCore
import AuthStackStorage
import Foundation
import Testing

/// Every service reads `<PREFIX>_DATABASE_URL` and `<PREFIX>_DATABASE_PATH` through ``DatabaseSettings``: the URL
/// selects PostgreSQL; without it the SQLite file stays the default. A bad value is a configuration error naming the
/// variable, never quoting the password.
@Suite struct DatabaseSettingsTests {
    static let prefixes = ["IDENTITY", "NOTES", "KEYS"]

    @Test(arguments: prefixes)
    func sqliteIsTheDefault(prefix: String) throws {
        let unset = try DatabaseSettings(prefix: prefix, defaultPath: "data/x.sqlite", reader: ConfigurationReader([:]))
        #expect(unset == DatabaseSettings(path: "data/x.sqlite"))
        let path = try DatabaseSettings(
            prefix: prefix,
            defaultPath: "data/x.sqlite",
            reader: ConfigurationReader(["\(prefix)_DATABASE_PATH": "/tmp/k.sqlite"])
        )
        #expect(path == DatabaseSettings(path: "/tmp/k.sqlite"))
        let empty = try DatabaseSettings(prefix: prefix, defaultPath: "data/x.sqlite", reader: ConfigurationReader(["\(prefix)_DATABASE_URL": ""]))
        #expect(empty.url == nil, "an empty URL counts as unset")
    }

    @Test func aURLSelectsPostgreSQL() throws {
        for (text, expected) in [
            ("postgres://keys:pw@db:5432/keys?sslmode=disable", "postgres://keys@db:5432/keys?sslmode=disable"),
            ("postgresql://identity:pw@db/identity", "postgres://identity@db:5432/identity?sslmode=prefer"),
            ("postgres://notes:pw@db:6432/notes?sslmode=require", "postgres://notes@db:6432/notes?sslmode=require"),
        ] {
            let settings = try DatabaseSettings(prefix: "X", defaultPath: "x.sqlite", reader: ConfigurationReader(["X_DATABASE_URL": text]))
            #expect(settings.url?.description == expected)
        }
    }

    /// The password can come from a file, so that it is in no process environment (`/proc/PID/environ`, `docker
    /// inspect`): the services read `<PREFIX>_DATABASE_PASSWORD_FILE` themselves (issue 20). A file that is missing,
    /// empty or of several lines, or one beside a URL that has a password of its own, is refused without quoting it.
    @Test func thePasswordCanComeFromAFile() throws {
        let directory = NSTemporaryDirectory() + "password-file-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/postgres.password"
        let empty = directory + "/empty"
        let twoLines = directory + "/two-lines"
        try "hunter2-secret\n".write(toFile: file, atomically: true, encoding: .utf8)
        try "\n".write(toFile: empty, atomically: true, encoding: .utf8)
        try "hunter2\nsecond\n".write(toFile: twoLines, atomically: true, encoding: .utf8)

        let settings = try DatabaseSettings(
            prefix: "NOTES",
            defaultPath: "x.sqlite",
            reader: ConfigurationReader(["NOTES_DATABASE_URL": "postgres://notes@db:5432/notes", "NOTES_DATABASE_PASSWORD_FILE": file])
        )
        #expect(settings.url == (try PostgresURL("postgres://notes:hunter2-secret@db:5432/notes", variable: "X")))
        #expect(settings.url?.description.contains("hunter2") == false)

        for (environment, variable) in [
            (["NOTES_DATABASE_PASSWORD_FILE": file], "NOTES_DATABASE_PASSWORD_FILE"),
            (["NOTES_DATABASE_URL": "postgres://notes:hunter2@db/notes", "NOTES_DATABASE_PASSWORD_FILE": file], "NOTES_DATABASE_URL"),
            (
                ["NOTES_DATABASE_URL": "postgres://notes@db/notes", "NOTES_DATABASE_PASSWORD_FILE": directory + "/missing"],
                "NOTES_DATABASE_PASSWORD_FILE"
            ),
            (["NOTES_DATABASE_URL": "postgres://notes@db/notes", "NOTES_DATABASE_PASSWORD_FILE": empty], "NOTES_DATABASE_PASSWORD_FILE"),
            (["NOTES_DATABASE_URL": "postgres://notes@db/notes", "NOTES_DATABASE_PASSWORD_FILE": twoLines], "NOTES_DATABASE_PASSWORD_FILE"),
        ] {
            #expect {
                try DatabaseSettings(prefix: "NOTES", defaultPath: "x.sqlite", reader: ConfigurationReader(environment))
            } throws: { error in
                (error as? InvalidSetting)?.variable == variable && !"\(error)".contains("hunter2")
            }
        }
    }

    /// The pool's budget (issue 23): 10 connections, 4 kept while idle, a 1 s wait for one, unless told otherwise.
    @Test func thePoolIsSizedBySettings() throws {
        let defaults = try DatabaseSettings(prefix: "X", defaultPath: "x.sqlite", reader: ConfigurationReader([:]))
        #expect(defaults.poolSize == 10 && defaults.poolMinimum == 4 && defaults.acquireTimeout == 1)
        let set = try DatabaseSettings(
            prefix: "X",
            defaultPath: "x.sqlite",
            reader: ConfigurationReader(["X_DATABASE_POOL_SIZE": "4", "X_DATABASE_POOL_MIN": "4", "X_DATABASE_ACQUIRE_TIMEOUT": "2.5"])
        )
        #expect(set.poolSize == 4 && set.poolMinimum == 4 && set.acquireTimeout == 2.5)
    }

    @Test func aBadValueIsAnInvalidSettingOfItsVariable() {
        for (variable, value) in [
            ("KEYS_DATABASE_URL", "postgres://keys:hunter2@db:99999/keys"),
            ("IDENTITY_DATABASE_URL", "sqlite:///data/identity.sqlite"),
            ("NOTES_DATABASE_URL", "postgres://notes:hunter2@db/notes?sslmode=maybe"),
            ("NOTES_DATABASE_PATH", ""),
            ("IDENTITY_DATABASE_PATH", ""),
            ("NOTES_DATABASE_POOL_SIZE", "0"),
            ("NOTES_DATABASE_POOL_MIN", "11"),
            ("KEYS_DATABASE_ACQUIRE_TIMEOUT", "0"),
        ] {
            let prefix = String(variable.prefix { $0 != "_" })
            #expect {
                try DatabaseSettings(prefix: prefix, defaultPath: "x.sqlite", reader: ConfigurationReader([variable: value]))
            } throws: { error in
                (error as? InvalidSetting)?.variable == variable && !"\(error)".contains("hunter2")
            }
        }
    }
}
