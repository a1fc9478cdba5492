import ArgumentParser
import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import Foundation
import IdentityServer
import KeyServer

/// `authctl`: the AuthStack admin CLI. Subcommands grow with the services (keys, clients, up, drill, users import).
@main
struct AuthCtl: AsyncParsableCommand {
    /// The root command's name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "authctl",
        abstract: "Administer an AuthStack deployment.",
        subcommands: [InitCommand.self, UpCommand.self, KeysCommand.self, ClientsCommand.self, DrillCommand.self, UsersCommand.self]
    )
}

/// `authctl init`: generate the stack's secrets in `keys/`.
struct InitCommand: ParsableCommand {
    /// `init`'s name and help.
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Generate keys/master.key and one key-service client token per client (identity, notes, admin), mode 0600.",
        discussion: """
            Existing files are never overwritten unless --force is given: a new master.key makes every stored signing key unreadable. \
            --compose prepares the directory for docker compose, whose secrets keep their host permissions: it also writes \
            postgres.password, keeps secrets that already exist, and makes the files readable by the containers' users \
            (mode 0644) inside a directory only you can enter (0700).
            """
    )

    /// `--keys-dir`: where the secrets go.
    @Option(name: .customLong("keys-dir"), help: "Directory for the secret files.")
    var keysDirectory = "keys"

    /// `--force`: replace existing secrets.
    @Flag(help: "Overwrite existing secret files.")
    var force = false

    /// `--compose`: secrets for docker compose.
    @Flag(help: "Prepare the secrets for docker compose: also postgres.password, existing secrets kept, files 0644 in a 0700 directory.")
    var compose = false

    /// Writes the secrets and names each file written.
    func run() throws {
        let directory = SecretsDirectory(path: keysDirectory)
        let written: [String]
        do {
            written = compose ? try prepareForCompose(directory) : try directory.initialize(force: force)
        } catch let failure as SecretsDirectory.Failure {
            throw CommandFailure(failure.description)
        }
        for path in written { print("wrote \(path)") }
    }

    /// `--compose`: the client secrets (made unless they all exist), the database password, and modes the containers
    /// can read. Compose mounts a secret file with its host owner and mode, and the containers run as other users
    /// (uid 10001 for the services, the postgres image's own user), so 0600 would lock them out; the 0700 directory
    /// still keeps every other host user away from the files.
    private func prepareForCompose(_ directory: SecretsDirectory) throws -> [String] {
        let secrets = (["master.key"] + SecretsDirectory.clients.map { "\($0.name).token" }).map { Self.path(directory, $0) }
        let missing = secrets.filter { !FileManager.default.fileExists(atPath: $0) }
        var written: [String] = []
        if force || missing.count == secrets.count {
            written = try directory.initialize(force: force)
        } else if !missing.isEmpty {
            throw CommandFailure(
                "\(directory.path) lacks \(missing.joined(separator: ", ")) but holds the other secrets; restore what is missing, "
                    + "or pass --force to replace them all (a new master.key makes every stored signing key unreadable)"
            )
        }
        try Self.changeMode(directory.path, to: 0o700)
        let password = Self.path(directory, "postgres.password")
        if force || !FileManager.default.fileExists(atPath: password) {
            // base64url: the image's entry point puts it into the database URL as it is, no escaping needed.
            let text = Base64URL.encode(SecretBytes.random(count: 32).bytes) + "\n"
            guard FileManager.default.createFile(atPath: password, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw CommandFailure("cannot write \(password)")
            }
            written.append(password)
        }
        for file in secrets + [password] { try Self.changeMode(file, to: 0o644) }
        return written
    }

    private static func path(_ directory: SecretsDirectory, _ name: String) -> String {
        (directory.path as NSString).appendingPathComponent(name)
    }

    private static func changeMode(_ path: String, to mode: mode_t) throws {
        guard chmod(path, mode) == 0 else { throw CommandFailure("cannot chmod \(path): \(String(cString: strerror(errno)))") }
    }
}

/// `authctl users …`: user administration.
struct UsersCommand: AsyncParsableCommand {
    /// `users`' name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Manage identity users.",
        subcommands: [ImportUsersCommand.self]
    )
}

/// `authctl users import FILE`: bring users over from the original Express app.
struct ImportUsersCommand: AsyncParsableCommand {
    /// `import`'s name and help.
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

    /// The export to import.
    @Argument(help: "The exported users (JSON).")
    var file: String

    /// `--database`: identity's SQLite database.
    @Option(help: "The identity service's SQLite database (when no --database-url).")
    var database = ProcessInfo.processInfo.environment["IDENTITY_DATABASE_PATH"] ?? "data/identity.sqlite"

    /// `--database-url`: identity's PostgreSQL database, instead.
    @Option(
        name: .customLong("database-url"),
        help:
            "The identity service's PostgreSQL database (postgres://…; default $IDENTITY_DATABASE_URL; its password may come from $IDENTITY_DATABASE_PASSWORD_FILE)."
    )
    var databaseURL = ProcessInfo.processInfo.environment["IDENTITY_DATABASE_URL"] ?? ""

    /// Imports every user of the file or none, and reports what was imported and skipped.
    func run() async throws {
        let json: Data
        do {
            json = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw CommandFailure("cannot read \(file): \(error.localizedDescription)")
        }
        do {
            var configuration = IdentityConfiguration()
            // The service's own reading of its database settings, the options in place of their variables: so
            // IDENTITY_DATABASE_PASSWORD_FILE works here as in the service (compose's authctl has one).
            var environment = ProcessInfo.processInfo.environment
            environment["IDENTITY_DATABASE_PATH"] = database
            environment["IDENTITY_DATABASE_URL"] = databaseURL
            do {
                configuration.database = try DatabaseSettings(
                    prefix: "IDENTITY",
                    defaultPath: database,
                    reader: ConfigurationReader(environment)
                )
            } catch {
                throw ValidationError("\(error)".replacingOccurrences(of: "IDENTITY_DATABASE_URL:", with: "--database-url:"))
            }
            let report = try await LegacyUserImport.run(json: json, configuration: configuration)
            print("imported \(report.imported) user(s) into \(configuration.database.url.map { "\($0)" } ?? database)")
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
    /// The message, printed after `Error: `.
    let description: String
    /// A failure with this message.
    init(_ description: String) { self.description = description }
}
