import ArgumentParser
import AuthStackCore
import Foundation
import KeyServer
import NIOHTTP1

extension ClientRole: ExpressibleByArgument {}

/// `authctl clients list | add | rotate | revoke`: the key service's clients as data (docs/design.md §5.4).
struct ClientsCommand: AsyncParsableCommand {
    /// `clients`' name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "clients",
        abstract: "Add, list, rotate and revoke the key service's clients: your own services' verifier tokens, signers and admins.",
        subcommands: [ListClients.self, AddClient.self, RotateClient.self, RevokeClient.self]
    )

    /// Where a new token goes: a file of mode 0600, or standard output.
    struct TokenOutput: ParsableArguments {
        /// `--token-file`.
        @Option(name: .customLong("token-file"), help: "Write the new token to this file (mode 0600) instead of printing it.")
        var tokenFile: String?

        /// Shows or stores `token` from an answer; the key service will not show it again.
        func deliver(_ answer: KeyServiceClient.Answer, replacing: Bool) throws {
            let issued = try KeyServiceClient.IssuedToken.decode(answer.body)
            guard let tokenFile else {
                print(issued.token)
                FileHandle.standardError.write(
                    Data("client \(issued.client.name) (\(issued.client.role)): the token above is shown once; store it now\n".utf8)
                )
                return
            }
            if !replacing, FileManager.default.fileExists(atPath: tokenFile) {
                throw CommandFailure(
                    "\(tokenFile) exists; the token was issued but not written: revoke the client or rotate its token with --token-file"
                )
            }
            do {
                try SecretsDirectory.writePrivate(issued.token + "\n", to: tokenFile)
            } catch {
                throw CommandFailure("\(error); the token was issued but not written: rotate it again with another --token-file")
            }
            print("wrote \(tokenFile) (client \(issued.client.name), \(issued.client.role))")
        }
    }

    /// `authctl clients list`.
    struct ListClients: AsyncParsableCommand {
        /// `list`'s name and help.
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Show every client: name, role, status, created, last seen (never tokens)."
        )
        /// The key service and output options.
        @OptionGroup var options: KeyServiceOptions

        /// `GET /v1/clients`.
        func run() async throws {
            try options.show(try await options.client().send(.GET, "/v1/clients")) { try KeyServiceClient.ClientListing.decode($0).table }
        }
    }

    /// `authctl clients add NAME --role ROLE`.
    struct AddClient: AsyncParsableCommand {
        /// `add`'s name and help.
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add a client and print its token once (stored hashed; a verifier reads the keyring, a signer also signs).",
            discussion: "A name is \(ClientPolicy.nameRule). At most \(ClientPolicy.maximumClients) clients are active at once."
        )
        /// The key service options.
        @OptionGroup var options: KeyServiceOptions
        /// Where the token goes.
        @OptionGroup var output: TokenOutput
        /// The new client's name.
        @Argument(help: "The client's name.")
        var name: String
        /// Its role.
        @Option(help: "verifier (reads the keyring), signer (reads it and signs tokens) or admin.")
        var role: ClientRole

        /// The name is checked before anything is sent.
        func validate() throws { try checkName(name) }

        /// `POST /v1/clients`.
        func run() async throws {
            let answer = try await options.client().send(.POST, "/v1/clients", json: ["name": name, "role": role.rawValue])
            try output.deliver(answer, replacing: false)
        }
    }

    /// `authctl clients rotate NAME [--overlap SECONDS]`.
    struct RotateClient: AsyncParsableCommand {
        /// `rotate`'s name and help.
        static let configuration = CommandConfiguration(
            commandName: "rotate",
            abstract: "Give a client a new token; the old one keeps working for --overlap seconds (default 3600).",
            discussion: """
                Put the new token where the client reads it before the overlap ends, then restart that service: under \
                authctl up, --token-file keys/identity.token; under compose, mount the service's secrets volume \
                (docker compose run --rm -v authstack_secrets-identity:/target authctl clients rotate identity \
                --token-file /target/identity.token).
                """
        )
        /// The key service options.
        @OptionGroup var options: KeyServiceOptions
        /// Where the token goes.
        @OptionGroup var output: TokenOutput
        /// The client.
        @Argument(help: "The client's name.")
        var name: String
        /// `--overlap`.
        @Option(help: "Seconds the old token stays valid, 0 to 2592000 (30 days).")
        var overlap = 3_600

        /// The name and overlap are checked before anything is sent.
        func validate() throws {
            try checkName(name)
            guard (0...Int(ClientPolicy.maximumOverlap)).contains(overlap) else {
                throw ValidationError("--overlap must be 0 to \(Int(ClientPolicy.maximumOverlap)) seconds")
            }
        }

        /// `POST /v1/clients/{name}/rotate?overlap=`.
        func run() async throws {
            let answer = try await options.client().send(.POST, "/v1/clients/\(name)/rotate?overlap=\(overlap)")
            try output.deliver(answer, replacing: true)
        }
    }

    /// `authctl clients revoke NAME`.
    struct RevokeClient: AsyncParsableCommand {
        /// `revoke`'s name and help.
        static let configuration = CommandConfiguration(
            commandName: "revoke",
            abstract: "Revoke a client at once: its next call is 401 and its open long-polls end, on every replica within a second."
        )
        /// The key service options.
        @OptionGroup var options: KeyServiceOptions
        /// The client.
        @Argument(help: "The client's name.")
        var name: String

        /// The name is checked before anything is sent.
        func validate() throws { try checkName(name) }

        /// `DELETE /v1/clients/{name}`.
        func run() async throws {
            _ = try await options.client().send(.DELETE, "/v1/clients/\(name)")
            print("revoked client \(name)")
        }
    }
}

/// A client name goes into a URL path as it is: one outside the rule is refused here rather than escaped.
private func checkName(_ name: String) throws {
    guard ClientPolicy.isValidName(name) else { throw ValidationError("\(name.debugDescription) is not a client name (\(ClientPolicy.nameRule))") }
}
