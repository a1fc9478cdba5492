import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The public APIs as the drill's clients use them.
struct DrillAPI: Sendable {
    /// Identity's base URL.
    let identity: String
    /// Notes' base URL.
    let notes: String

    /// Fails unless both services answer `/readyz` with 200.
    func requireReady() async throws {
        for url in [identity, notes] {
            guard (try? await status(.GET, url + "/readyz")) == 200 else {
                throw CommandFailure("\(url) is not ready (GET /readyz); start the stack first (`authctl up`)")
            }
        }
    }

    /// The status of one request.
    func status(_ method: HTTPMethod, _ url: String, bearer: String? = nil) async throws -> UInt {
        try await send(method, url, bearer: bearer).status
    }

    /// One request, with a bearer token and a JSON body when given; the answer's status and JSON object (empty when
    /// the body is not one).
    func send(
        _ method: HTTPMethod,
        _ url: String,
        bearer: String? = nil,
        json: [String: String]? = nil
    ) async throws
        -> (status: UInt, body: [String: Any])
    {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: json)))
        }
        let response = try await authctlHTTPClient.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
        return (response.status.code, object)
    }

    /// A new user with a random password, signed up.
    func signup(_ username: String) async throws -> DrillUser {
        let password = "drill password " + UUID().uuidString
        let (status, body) = try await send(.POST, identity + "/signup", json: ["username": username, "password": password])
        guard status == 201, let access = body["access_token"] as? String, let refresh = body["refresh_token"] as? String else {
            throw CommandFailure("signup of a drill user failed with HTTP \(status) \(body["code"] ?? "")")
        }
        return DrillUser(username: username, password: password, access: access, refresh: refresh)
    }

    /// One client's loop of valid requests until `stop`.
    func traffic(as user: DrillUser, stats: DrillStats, control: DrillControl) async {
        var round = 0
        while !control.stopped {
            round += 1
            await noteRound(round, as: user, stats: stats, control: control)
            if round % 5 == 0 { await refresh(user, stats: stats) }
            if round % 50 == 0 { await login(user, stats: stats) }
        }
    }

    /// Creates, lists, reads, edits and deletes a note; stops at a rejected token (after refreshing) or a failed create.
    private func noteRound(_ round: Int, as user: DrillUser, stats: DrillStats, control: DrillControl) async {
        var noteID: String?
        let steps: [(String, HTTPMethod, () -> String, [String: String]?, UInt)] = [
            ("POST /notes", .POST, { notes + "/notes" }, ["title": "drill \(round)", "body": "steady traffic"], 201),
            ("GET /notes", .GET, { notes + "/notes?limit=5" }, nil, 200),
            ("GET /notes/{id}", .GET, { notes + "/notes/\(noteID ?? "missing")" }, nil, 200),
            ("PATCH /notes/{id}", .PATCH, { notes + "/notes/\(noteID ?? "missing")" }, ["body": "edited in round \(round)"], 200),
            ("DELETE /notes/{id}", .DELETE, { notes + "/notes/\(noteID ?? "missing")" }, nil, 204),
        ]
        for (name, method, url, json, expected) in steps {
            let token = user.access
            do {
                let (status, body) = try await send(method, url(), bearer: token, json: json)
                if status == expected {
                    stats.record(name, status: status, ok: true)
                    if name == "POST /notes" { noteID = body["id"] as? String }
                } else if status == 401,
                    body["code"] as? String == "token_expired"
                        || (try? DrillCommand.kid(of: token)).map(control.isRevoked) == true
                {
                    // Expired, or signed by the key just revoked: rejected as it must be; a real client refreshes.
                    stats.record(name, status: status, ok: true, expected: true)
                    _ = try? await user.refreshed(api: self)
                    return
                } else {
                    stats.record(name, status: status, ok: false)
                    if name == "POST /notes" { return }
                }
            } catch {
                stats.record(name, status: 0, ok: false)
            }
        }
    }

    /// A refresh, as clients do every few minutes.
    private func refresh(_ user: DrillUser, stats: DrillStats) async {
        do {
            _ = try await user.refreshed(api: self)
            stats.record("POST /refresh", status: 200, ok: true)
        } catch {
            stats.record("POST /refresh", status: 0, ok: false)
        }
    }

    /// A login with the password (a password hash on identity's side); its tokens replace the user's.
    private func login(_ user: DrillUser, stats: DrillStats) async {
        let credentials = ["username": user.username, "password": user.password]
        let (status, body) = (try? await send(.POST, identity + "/login", json: credentials)) ?? (0, [:])
        stats.record("POST /login", status: status, ok: status == 200)
        if let access = body["access_token"] as? String, let refresh = body["refresh_token"] as? String {
            user.update(access: access, refresh: refresh)
        }
    }
}
