import ArgumentParser
import AuthStackCore
import Foundation
import NIOHTTP1

/// Options every key command shares.
struct KeyServiceOptions: ParsableArguments {
    /// `--url` (default `$AUTHCTL_KEYS_URL`).
    @Option(help: "Key service base URL.")
    var url = ProcessInfo.processInfo.environment["AUTHCTL_KEYS_URL"] ?? "http://127.0.0.1:8083"

    /// `--keys-dir`: where admin.token is.
    @Option(name: .customLong("keys-dir"), help: "Directory with admin.token (from `authctl init`).")
    var keysDirectory = "keys"

    /// `--json`: the answer as the key service sent it.
    @Flag(help: "Print the key service's JSON answer instead of a table.")
    var json = false

    /// The client these options name.
    func client() throws -> KeyServiceClient { try KeyServiceClient(url: url, keysDirectory: keysDirectory) }

    /// Prints an answer: its JSON, or the table `table` makes of it (by default the key metadata's).
    func show(_ answer: KeyServiceClient.Answer, table: (Data) throws -> String = { try KeyServiceClient.Metadata.decode($0).table }) throws {
        if json {
            print(String(decoding: answer.body, as: UTF8.self))
        } else {
            print(try table(answer.body))
        }
    }
}

/// `authctl keys list | rotate | revoke`.
struct KeysCommand: AsyncParsableCommand {
    /// `keys`' name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "List, rotate and revoke the signing keys (through the key service's admin API).",
        subcommands: [ListKeys.self, RotateKeys.self, RevokeKey.self]
    )

    /// `authctl keys list`.
    struct ListKeys: AsyncParsableCommand {
        /// `list`'s name and help.
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Show every key with its status and history (never secrets).")
        /// The key service and output options.
        @OptionGroup var options: KeyServiceOptions

        /// `GET /v1/keys`.
        func run() async throws { try options.show(try await options.client().send(.GET, "/v1/keys")) }
    }

    /// `authctl keys rotate [--force]`.
    struct RotateKeys: AsyncParsableCommand {
        /// `rotate`'s name and help.
        static let configuration = CommandConfiguration(
            commandName: "rotate",
            abstract: "Promote the published next key to current; the old current keeps verifying until it retires."
        )
        /// The key service and output options.
        @OptionGroup var options: KeyServiceOptions
        /// `--force`: rotate inside the publish lead.
        @Flag(help: "Rotate even if the next key was published less than the publish lead ago (verifiers may not hold it yet).")
        var force = false

        /// `POST /v1/keys/rotate`.
        func run() async throws { try options.show(try await options.client().send(.POST, "/v1/keys/rotate" + (force ? "?force=true" : ""))) }
    }

    /// `authctl keys revoke KID`.
    struct RevokeKey: AsyncParsableCommand {
        /// `revoke`'s name and help.
        static let configuration = CommandConfiguration(
            commandName: "revoke",
            abstract: "Emergency: remove a key from the keyring at once; tokens it signed stop verifying everywhere within seconds."
        )
        /// The key service and output options.
        @OptionGroup var options: KeyServiceOptions
        /// The key to revoke.
        @Argument(help: "The kid to revoke (see `authctl keys list`).")
        var kid: String

        /// The kid has a key id's form.
        func validate() throws {
            guard HS256Key.isValidKeyID(kid) else { throw ValidationError("\(kid.debugDescription) is not a key id") }
        }

        /// `POST /v1/keys/{kid}/revoke`.
        func run() async throws { try options.show(try await options.client().send(.POST, "/v1/keys/\(kid)/revoke")) }
    }
}
