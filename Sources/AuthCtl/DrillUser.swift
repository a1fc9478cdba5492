import Foundation
import NIOHTTP1
import Synchronization

/// One drill user: its credentials and current tokens.
final class DrillUser: Sendable {
    /// Its username.
    let username: String
    /// Its password, for the drill's logins.
    let password: String
    private let tokens: Mutex<(access: String, refresh: String)>

    /// A user just signed up, with the tokens signup returned.
    init(username: String, password: String, access: String, refresh: String) {
        self.username = username
        self.password = password
        tokens = Mutex((access, refresh))
    }

    /// The current access token.
    var access: String { tokens.withLock { $0.access } }
    /// The current refresh token.
    var refresh: String { tokens.withLock { $0.refresh } }
    /// Replaces both tokens (after a refresh or a login).
    func update(access: String, refresh: String) { tokens.withLock { $0 = (access, refresh) } }

    /// A fresh access token from a refresh (cheap: no password hash).
    func refreshed(api: DrillAPI) async throws -> String {
        let (status, body) = try await api.send(.POST, api.identity + "/refresh", json: ["refresh_token": refresh])
        guard status == 200, let access = body["access_token"] as? String, let refresh = body["refresh_token"] as? String else {
            throw CommandFailure("the probe's refresh failed with HTTP \(status)")
        }
        update(access: access, refresh: refresh)
        return access
    }

    /// Seconds from now until identity issues a token signed by `kid`, or nil after `limit`.
    func waitUntilSigned(by kid: String, api: DrillAPI, limit: Double) async -> Double? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(limit) {
            if let token = try? await refreshed(api: api), (try? DrillCommand.kid(of: token)) == kid {
                return (ContinuousClock.now - start).seconds
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }
}
