import KeyServer
import ArgumentParser
import AsyncHTTPClient
import AuthStackCore
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The key service's admin API as authctl uses it, with errors that say what to do.
struct KeyServiceClient {
    let baseURL: String
    let token: String
    let tokenFile: String

    init(url: String, keysDirectory: String) throws {
        baseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        tokenFile = keysDirectory + "/admin.token"
        do {
            token = try SecretsDirectory(path: keysDirectory).read("admin.token").trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw CommandFailure("cannot read the admin token \(tokenFile): run `authctl init` first, or pass --keys-dir")
        }
    }

    struct Answer {
        let status: UInt
        let headers: HTTPHeaders
        let body: Data
    }

    func send(_ method: HTTPMethod, _ path: String) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response: HTTPClientResponse
        do {
            response = try await authctlHTTPClient.execute(request, timeout: .seconds(30))
        } catch {
            throw CommandFailure("cannot reach the key service at \(baseURL) (\(error)); is it running? (`authctl up` starts it)")
        }
        let body = try await response.body.collect(upTo: 4 << 20)
        let answer = Answer(status: response.status.code, headers: response.headers, body: Data(buffer: body))
        switch answer.status {
        case 200..<300:
            return answer
        case 401:
            throw CommandFailure("the key service refused the admin token in \(tokenFile) (401); was it generated for this deployment?")
        case 403:
            throw CommandFailure("the token in \(tokenFile) is not an admin token (403)")
        default:
            throw CommandFailure(Self.problemMessage(answer))
        }
    }


    static func problemMessage(_ answer: Answer) -> String {
        let object = (try? JSONSerialization.jsonObject(with: answer.body)) as? [String: Any]
        let code = object?["code"] as? String ?? "HTTP \(answer.status)"
        let detail = object?["detail"] as? String ?? ""
        var message = "\(code): \(detail)"
        if let retryAfter = answer.headers.first(name: "Retry-After") { message += " (retry after \(retryAfter) s, or use --force)" }
        return message
    }

    /// Key metadata as the admin API returns it.
    struct Metadata: Decodable {
        struct Key: Decodable {
            let kid: String
            let status: String
            let createdAt: String?
            let activatedAt: String?
            let retireAt: String?
            let revokedAt: String?
        }

        let version: Int
        let currentKid: String
        let keys: [Key]

        static func decode(_ data: Data) throws -> Metadata {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            return try decoder.decode(Metadata.self, from: data)
        }

        var table: String {
            var lines = ["keyring version \(version), current \(currentKid)", ""]
            let header = ["KID", "STATUS", "CREATED", "ACTIVATED", "RETIRES", "REVOKED"]
            let rows = keys.map { [$0.kid, $0.status, $0.createdAt ?? "-", $0.activatedAt ?? "-", $0.retireAt ?? "-", $0.revokedAt ?? "-"] }
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                lines.append(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                    .trimmingCharacters(in: .whitespaces))
            }
            return lines.joined(separator: "\n")
        }
    }
}

/// Options every key command shares.
struct KeyServiceOptions: ParsableArguments {
    @Option(help: "Key service base URL.")
    var url = ProcessInfo.processInfo.environment["AUTHCTL_KEYS_URL"] ?? "http://127.0.0.1:8083"

    @Option(name: .customLong("keys-dir"), help: "Directory with admin.token (from `authctl init`).")
    var keysDirectory = "keys"

    @Flag(help: "Print the key service's JSON answer instead of a table.")
    var json = false

    func client() throws -> KeyServiceClient { try KeyServiceClient(url: url, keysDirectory: keysDirectory) }

    func show(_ answer: KeyServiceClient.Answer) throws {
        if json {
            print(String(decoding: answer.body, as: UTF8.self))
        } else {
            print(try KeyServiceClient.Metadata.decode(answer.body).table)
        }
    }
}

/// `authctl keys list | rotate | revoke`.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "List, rotate and revoke the signing keys (through the key service's admin API).",
        subcommands: [ListKeys.self, RotateKeys.self, RevokeKey.self]
    )

    struct ListKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Show every key with its status and history (never secrets).")
        @OptionGroup var options: KeyServiceOptions

        func run() async throws { try options.show(try await options.client().send(.GET, "/v1/keys")) }
    }

    struct RotateKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate", abstract: "Promote the published next key to current; the old current keeps verifying until it retires.")
        @OptionGroup var options: KeyServiceOptions
        @Flag(help: "Rotate even if the next key was published less than the publish lead ago (verifiers may not hold it yet).")
        var force = false

        func run() async throws { try options.show(try await options.client().send(.POST, "/v1/keys/rotate" + (force ? "?force=true" : ""))) }
    }

    struct RevokeKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke",
            abstract: "Emergency: remove a key from the keyring at once; tokens it signed stop verifying everywhere within seconds.")
        @OptionGroup var options: KeyServiceOptions
        @Argument(help: "The kid to revoke (see `authctl keys list`).")
        var kid: String

        func validate() throws {
            guard HS256Key.isValidKeyID(kid) else { throw ValidationError("\(kid.debugDescription) is not a key id") }
        }

        func run() async throws { try options.show(try await options.client().send(.POST, "/v1/keys/\(kid)/revoke")) }
    }
}

/// The one HTTP client authctl's commands use: it gives up connecting after 2 s (the shared one keeps retrying for
/// 10 s), never follows redirects (tokens must not travel elsewhere), and lives as long as the process.
let authctlHTTPClient = HTTPClient(
    eventLoopGroup: HTTPClient.defaultEventLoopGroup,
    configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(2))))
