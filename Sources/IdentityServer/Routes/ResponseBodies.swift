import Foundation

/// The JSON bodies identity answers with (docs/design.md §5.2), snake_case through ``IdentityRoutes/encoder``.
struct TokenBody: Encodable {
    let accessToken: String
    let tokenType: String
    let expiresIn: Int
    let refreshToken: String
    let refreshExpiresIn: Int
}

/// `POST /password`: how many other sessions the change ended.
struct PasswordChangedBody: Encodable {
    let revokedSessions: Int
}

struct MeBody: Encodable {
    let id: String
    let username: String
    let createdAt: Date
}

struct SessionsBody: Encodable {
    struct Session: Encodable {
        let id: String
        let createdAt: Date
        let lastUsedAt: Date
        let expiresAt: Date
        let userAgent: String?
        let current: Bool

        // user_agent is null, not absent, when none was sent.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(lastUsedAt, forKey: .lastUsedAt)
            try container.encode(expiresAt, forKey: .expiresAt)
            try container.encode(userAgent, forKey: .userAgent)
            try container.encode(current, forKey: .current)
        }

        enum CodingKeys: String, CodingKey { case id, createdAt, lastUsedAt, expiresAt, userAgent, current }
    }

    let sessions: [Session]
}
