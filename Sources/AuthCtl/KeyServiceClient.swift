import AsyncHTTPClient
import AuthStackCore
import Foundation
import KeyServer
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The key service's admin API as authctl uses it, with errors that say what to do.
struct KeyServiceClient {
    /// The key service's base URL, no trailing slash.
    let baseURL: String
    /// The admin token.
    let token: String
    /// Where the admin token was read from, for messages.
    let tokenFile: String

    /// A client for the key service at `url`, with the admin token in `keysDirectory`.
    init(url: String, keysDirectory: String) throws {
        baseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        tokenFile = keysDirectory + "/admin.token"
        do {
            token = try SecretsDirectory(path: keysDirectory).read("admin.token").trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw CommandFailure("cannot read the admin token \(tokenFile): run `authctl init` first, or pass --keys-dir")
        }
    }

    /// A successful answer of the admin API.
    struct Answer {
        /// The HTTP status (2xx).
        let status: UInt
        /// The response headers.
        let headers: HTTPHeaders
        /// The body (JSON).
        let body: Data
    }

    /// One admin request; a refused token, a non-2xx answer or an unreachable service is a ``CommandFailure`` saying
    /// what to do.
    func send(_ method: HTTPMethod, _ path: String, json: [String: String]? = nil) async throws -> Answer {
        try checked(try await exchange(method, path, json: json))
    }

    /// One admin request, whatever its answer's status; an unreachable service is a ``CommandFailure``.
    func exchange(_ method: HTTPMethod, _ path: String, json: [String: String]? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])))
        }
        let response: HTTPClientResponse
        do {
            response = try await authctlHTTPClient.execute(request, timeout: .seconds(30))
        } catch {
            throw CommandFailure("cannot reach the key service at \(baseURL) (\(error)); is it running? (`authctl up` starts it)")
        }
        let body = try await response.body.collect(upTo: 4 << 20)
        return Answer(status: response.status.code, headers: response.headers, body: Data(buffer: body))
    }

    /// `answer` when it is a success; else a ``CommandFailure`` saying what to do.
    func checked(_ answer: Answer) throws -> Answer {
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

    /// A problem answer as one line: code, detail, and the `Retry-After` with the way around it.
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
        /// One key (never its secret).
        struct Key: Decodable {
            /// Its key id.
            let kid: String
            /// What it signs with: `HS256` or `EdDSA`.
            let alg: String
            /// `next`, `current`, `retiring` or `revoked`.
            let status: String
            /// When it was made.
            let createdAt: String?
            /// When it became current.
            let activatedAt: String?
            /// When it stops verifying.
            let retireAt: String?
            /// When it was revoked.
            let revokedAt: String?
        }

        /// The keyring's version (one more per change).
        let version: Int
        /// The kid identity signs with.
        let currentKid: String
        /// Every key the keyring holds or held.
        let keys: [Key]

        /// Metadata from the admin API's JSON (snake_case).
        static func decode(_ data: Data) throws -> Metadata { try KeyServiceClient.decoder.decode(Metadata.self, from: data) }

        /// The keyring as a text table, one key per line.
        var table: String {
            let header = ["KID", "ALG", "STATUS", "CREATED", "ACTIVATED", "RETIRES", "REVOKED"]
            let rows = keys.map { [$0.kid, $0.alg, $0.status, $0.createdAt ?? "-", $0.activatedAt ?? "-", $0.retireAt ?? "-", $0.revokedAt ?? "-"] }
            return "keyring version \(version), current \(currentKid)\n\n" + KeyServiceClient.table(header: header, rows: rows)
        }
    }
}

extension KeyServiceClient {
    /// A client as `GET /v1/clients` lists it.
    struct Client: Decodable {
        let name: String
        let role: String
        let status: String
        let createdAt: String
        let rotatedAt: String?
        let lastSeenAt: String?
        let revokedAt: String?
        let previousTokenValidUntil: String?
    }

    /// `GET /v1/clients`.
    struct ClientListing: Decodable {
        let version: Int
        let clients: [Client]

        static func decode(_ data: Data) throws -> ClientListing { try KeyServiceClient.decoder.decode(ClientListing.self, from: data) }

        /// The clients as a text table, one per line.
        var table: String {
            let header = ["NAME", "ROLE", "STATUS", "CREATED", "LAST SEEN", "ROTATED", "OLD TOKEN UNTIL"]
            let rows = clients.map {
                [$0.name, $0.role, $0.status, $0.createdAt, $0.lastSeenAt ?? "-", $0.rotatedAt ?? "-", $0.previousTokenValidUntil ?? "-"]
            }
            return KeyServiceClient.table(header: header, rows: rows)
        }
    }

    /// The answer of `POST /v1/clients` and of a rotation: the client and its new token.
    struct IssuedToken: Decodable {
        let client: Client
        let token: String

        static func decode(_ data: Data) throws -> IssuedToken { try KeyServiceClient.decoder.decode(IssuedToken.self, from: data) }
    }

    /// The admin API's JSON is snake_case.
    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    /// Columns padded to their widest cell, two spaces apart.
    static func table(header: [String], rows: [[String]]) -> String {
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}
