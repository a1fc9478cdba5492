import AuthStackCore
import AuthStackHTTP
import AuthStackStorage
import Foundation
import Logging

/// Imports users exported from the original Express app (docs/design.md §6, issue "migration"): a JSON array of
/// `{"id", "username", "password"}` where `password` is a bcrypt hash (`$2a$`/`$2b$`/`$2y$`). Imported users log in
/// with their old passwords; the first successful login rehashes to scrypt.
///
/// All or nothing: when any entry is invalid, nothing is imported and every problem is reported. Users whose username
/// (case-insensitively) or id already exists are skipped, so running the same import twice is harmless. The original
/// `id` is kept (as text) and becomes the `sub` of the user's tokens, so other systems' references stay valid.
public enum LegacyUserImport {
    public struct Report: Sendable, Equatable {
        public let imported: Int
        public let skipped: [String]
    }

    /// The file cannot be imported as it is; `problems` names each entry (`[index] field: problem`).
    public struct Rejected: Error, CustomStringConvertible, Sendable {
        public let problems: [String]
        public var description: String { "nothing imported; fix these entries:\n" + problems.map { "  " + $0 }.joined(separator: "\n") }
    }

    /// Validates every entry of `json`, then imports them in one transaction into the SQLite database at
    /// `databasePath` (created and migrated if needed).
    public static func run(json: Data, databasePath: String, now: Date = Date()) async throws -> Report {
        var configuration = IdentityConfiguration()
        configuration.database.path = databasePath
        return try await run(json: json, configuration: configuration, now: now)
    }

    /// Validates every entry of `json`, then imports them in one transaction into the store `configuration` selects:
    /// PostgreSQL when its database has a URL, else its SQLite file.
    public static func run(json: Data, configuration: IdentityConfiguration, now: Date = Date()) async throws -> Report {
        let users = try parse(json, now: now)
        let storage = try await configuration.openStore(logger: Logger(label: "authctl"))
        do {
            let (imported, skipped) = try await storage.store.importUsers(users)
            await storage.pool?.close()
            return Report(imported: imported, skipped: skipped)
        } catch {
            await storage.pool?.close()
            throw error
        }
    }

    static func parse(_ json: Data, now: Date) throws -> [UserRecord] {
        guard let entries = try? JSONDecoder().decode([Entry].self, from: json) else {
            throw Rejected(problems: ["the file must be a JSON array of {\"id\", \"username\", \"password\"} objects"])
        }
        var users: [UserRecord] = []
        var problems: [String] = []
        var seenNames: [String: Int] = [:]
        var seenIDs: [String: Int] = [:]
        for (index, entry) in entries.enumerated() {
            guard case .object(let object) = entry else {
                problems.append("[\(index)] must be an object")
                continue
            }
            var entryProblems: [String] = []
            let id: String? =
                switch object["id"] {
                case .string(let text)?
                where !text.isEmpty && text.count <= 128 && text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }): text
                case .integer(let number)?: String(number)
                default: nil
                }
            if id == nil { entryProblems.append("id: must be a non-empty string of at most 128 visible characters, or an integer") }
            var username: String? = nil
            if case .string(let name)? = object["username"] {
                username = name
                if let problem = Username.problem(with: name) { entryProblems.append("username \(name.debugDescription): \(problem)") }
            } else {
                entryProblems.append("username: must be a string")
            }
            var password: String? = nil
            if case .string(let hash)? = object["password"], case .bcrypt? = StoredPasswordHash(hash) {
                password = hash
            } else {
                entryProblems.append("password: must be a bcrypt hash ($2a$, $2b$ or $2y$, cost 4–18)")
            }
            if let username, let first = seenNames.updateValue(index, forKey: Username.key(username)) {
                entryProblems.append("username \(username.debugDescription): also at [\(first)]")
            }
            if let id, let first = seenIDs.updateValue(index, forKey: id) { entryProblems.append("id \(id.debugDescription): also at [\(first)]") }
            if entryProblems.isEmpty, let id, let username, let password {
                users.append(UserRecord(id: id, username: username, passwordHash: password, createdAt: now))
            } else {
                problems += entryProblems.map { "[\(index)] \($0)" }
            }
        }
        guard problems.isEmpty else { throw Rejected(problems: problems) }
        return users
    }

    /// One array element: an object of scalar members, or anything else.
    enum Entry: Decodable {
        case object([String: Member])
        case other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            self = (try? container.decode([String: Member].self)).map(Entry.object) ?? .other
        }
    }

    /// A member's value, keeping apart what the import accepts (strings, integers) from everything else.
    enum Member: Decodable {
        case string(String)
        case integer(Int)
        case other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .string(text)
            } else if (try? container.decode(Bool.self)) != nil {
                self = .other
            } else if let number = try? container.decode(Int.self) {
                self = .integer(number)
            } else {
                self = .other
            }
        }
    }
}
