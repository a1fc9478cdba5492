import AuthStackCore
import Crypto
import Foundation

/// Username rules (docs/design.md §5): 3–32 characters of `[A-Za-z0-9._-]`, unique case-insensitively, shown as signed up.
enum Username {
    static let lengths = 3...32

    /// Why `name` is not a valid username, or nil when it is.
    static func problem(with name: String) -> String? {
        if let problem = lengthProblem(with: name) { return problem }
        guard name.utf8.allSatisfy(isAllowed) else { return "may contain only letters A–Z, digits and . _ -" }
        return nil
    }

    /// Why `name` has the wrong length for a username, or nil: the one sign-up rule login also applies, so that a
    /// login's name (a throttle key) is bounded.
    static func lengthProblem(with name: String) -> String? {
        lengths.contains(name.utf8.count) ? nil : "must be 3–32 characters"
    }

    /// The case-insensitive key the uniqueness constraint and login lookups use.
    static func key(_ name: String) -> String { name.lowercased() }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default: false
        }
    }
}

/// Password rules (docs/design.md §5, NIST SP 800-63B): 8–1024 Unicode code points, any characters.
enum Password {
    static let lengths = 8...1024

    static func problem(with password: String) -> String? {
        let count = password.unicodeScalars.count
        guard count >= lengths.lowerBound else { return "must be at least 8 characters" }
        guard count <= lengths.upperBound else { return "must be at most 1024 characters" }
        return nil
    }
}

/// Random identifiers: a type prefix and 128 random bits in base64url (`u_…` users, `s_…` sessions, `t_…` token ids).
enum RandomID {
    static func make(_ prefix: String) -> String { prefix + Base64URL.encode(SecretBytes.random(count: 16).bytes) }
}

/// Refresh tokens (docs/design.md §2): `rt_` + base64url of 256 random bits. Only their SHA-256 is stored.
struct RefreshToken: Sendable, Equatable, CustomStringConvertible {
    static let prefix = "rt_"
    /// 32 bytes encode to 43 base64url characters.
    static let encodedLength = 3 + 43

    let value: String

    /// A new random token.
    static func generate() -> RefreshToken { RefreshToken(value: prefix + Base64URL.encode(SecretBytes.random(count: 32).bytes)) }

    /// A token as presented by a client, when it has the right shape; anything else cannot be one of ours.
    init?(presented text: String) {
        guard text.utf8.count == Self.encodedLength, text.hasPrefix(Self.prefix),
            let bytes = Base64URL.decode(text.dropFirst(Self.prefix.count)), bytes.count == 32
        else { return nil }
        value = text
    }

    private init(value: String) { self.value = value }

    /// SHA-256 of the token: the only form in which it is stored.
    var hash: [UInt8] { Array(SHA256.hash(data: Array(value.utf8))) }

    /// Never print a token.
    var description: String { "rt_<redacted>" }
}

/// Seals a session's successor refresh token under a key derived from its predecessor, so that a retry of the
/// predecessor inside the grace window can be answered with the same successor (docs/design.md §3) while the database
/// holds nothing usable in the clear: reading the successor needs the predecessor, which is stored only as a hash.
enum SuccessorSealing {
    private static let salt = Array("authstack/refresh-successor/v1".utf8)

    static func seal(_ successor: RefreshToken, predecessor: RefreshToken, sessionID: String) -> [UInt8] {
        let key = self.key(predecessor, sessionID)
        // AES-GCM with a random 96-bit nonce; the key is unique per predecessor, so it seals exactly one message.
        let box = try! AES.GCM.seal(Array(successor.value.utf8), using: key, authenticating: predecessor.hash)
        return Array(box.combined!)
    }

    static func open(_ sealed: [UInt8], predecessor: RefreshToken, sessionID: String) -> RefreshToken? {
        guard let box = try? AES.GCM.SealedBox(combined: sealed),
            let plain = try? AES.GCM.open(box, using: key(predecessor, sessionID), authenticating: predecessor.hash)
        else { return nil }
        return RefreshToken(presented: String(decoding: plain, as: UTF8.self))
    }

    private static func key(_ predecessor: RefreshToken, _ sessionID: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Array(predecessor.value.utf8)),
            salt: salt,
            info: Array(sessionID.utf8),
            outputByteCount: 32
        )
    }
}
