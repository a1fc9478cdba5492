import ArgumentParser
import AuthStackCore
import Foundation
import AuthStackService
import IdentityServer

/// `authctl`: the AuthStack admin CLI. Subcommands grow with the services (keys, up, drill, users import).
@main
struct AuthCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authctl",
        abstract: "Administer an AuthStack deployment.",
        subcommands: [InitCommand.self, UpCommand.self, KeysCommand.self, DrillCommand.self, UsersCommand.self]
    )
}

/// `authctl init`: generate the stack's secrets in `keys/`.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Generate keys/master.key and one key-service client token per client (identity, notes, admin), mode 0600.",
        discussion: "Existing files are never overwritten unless --force is given: a new master.key makes every stored signing key unreadable."
    )

    @Option(name: .customLong("keys-dir"), help: "Directory for the secret files.")
    var keysDirectory = "keys"

    @Flag(help: "Overwrite existing secret files.")
    var force = false

    func run() throws {
        do {
            let written = try SecretsDirectory(path: keysDirectory).initialize(force: force)
            for path in written { print("wrote \(path)") }
        } catch {
            throw CommandFailure(error.description)
        }
    }
}

/// `authctl users …`: user administration.
struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Manage identity users.",
        subcommands: [ImportUsersCommand.self]
    )
}

/// `authctl users import FILE`: bring users over from the original Express app.
struct ImportUsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import users exported from the original Express app: a JSON array of {\"id\", \"username\", \"password\"} with bcrypt hashes.",
        discussion: """
            Imported users log in with their old passwords; their first login rehashes the password to scrypt. \
            Nothing is imported when any entry is invalid; users whose username or id already exists are skipped, so \
            re-running an import is harmless. Run it against the identity database (stop the service or not: SQLite \
            serialises the writes).
            """
    )

    @Argument(help: "The exported users (JSON).")
    var file: String

    @Option(help: "The identity service's SQLite database (when no --database-url).")
    var database = ProcessInfo.processInfo.environment["IDENTITY_DATABASE_PATH"] ?? "data/identity.sqlite"

    @Option(name: .customLong("database-url"), help: "The identity service's PostgreSQL database (postgres://…; default $IDENTITY_DATABASE_URL).")
    var databaseURL = ProcessInfo.processInfo.environment["IDENTITY_DATABASE_URL"] ?? ""

    func run() async throws {
        let json: Data
        do {
            json = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw CommandFailure("cannot read \(file): \(error.localizedDescription)")
        }
        do {
            var configuration = IdentityConfiguration()
            configuration.databasePath = database
            if !databaseURL.isEmpty {
                do {
                    configuration.databaseURL = try PostgresURL(databaseURL, variable: "--database-url")
                } catch {
                    throw ValidationError("\(error)")
                }
            }
            let report = try await LegacyUserImport.run(json: json, configuration: configuration)
            print("imported \(report.imported) user(s) into \(configuration.databaseURL.map { "\($0)" } ?? database)")
            if !report.skipped.isEmpty {
                print("skipped \(report.skipped.count) already present: \(report.skipped.joined(separator: ", "))")
            }
        } catch let rejected as LegacyUserImport.Rejected {
            throw CommandFailure(rejected.description)
        }
    }
}

/// A command that could not do its work (as opposed to a usage error): ArgumentParser prints
/// `Error: <description>` without the usage text and exits 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
