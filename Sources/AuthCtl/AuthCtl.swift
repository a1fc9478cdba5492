import ArgumentParser
import AuthStackCore

/// `authctl`: the AuthStack admin CLI. Subcommands grow with the services (keys, up, drill, users import).
@main
struct AuthCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authctl",
        abstract: "Administer an AuthStack deployment.",
        subcommands: [InitCommand.self]
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
            throw ValidationError(error.description)
        }
    }
}
