import AuthStackCore

/// A password hash as stored in the database, parsed.
///
/// Two formats: AuthStack's own scrypt in PHC string format (`$scrypt$ln=17,r=8,p=1$<salt>$<hash>`, standard base64
/// without padding, as passlib writes it), and bcrypt (`$2a$`, `$2b$`, `$2y$`) imported from an older system.
public enum StoredPasswordHash: Sendable, Equatable {
    /// scrypt with its parameters, salt and derived key.
    case scrypt(ScryptParameters, salt: [UInt8], hash: [UInt8])
    /// A bcrypt modular-crypt string, validated for shape and cost.
    case bcrypt(String)

    /// Parses `text`; `nil` for anything unrecognised or out of bounds (which then never verifies).
    public init?(_ text: String) {
        if text.hasPrefix("$scrypt$") {
            guard let parsed = Self.parseScrypt(text) else { return nil }
            self = parsed
        } else if Self.isBcrypt(text) {
            self = .bcrypt(text)
        } else {
            return nil
        }
    }

    /// The PHC string.
    public var phcString: String {
        switch self {
        case .scrypt(let parameters, let salt, let hash):
            "$scrypt$\(parameters)$\(Base64URL.encodeStandardUnpadded(salt))$\(Base64URL.encodeStandardUnpadded(hash))"
        case .bcrypt(let text):
            text
        }
    }

    private static func parseScrypt(_ text: String) -> StoredPasswordHash? {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "scrypt" else { return nil }
        var values: [Substring: Int] = [:]
        for pair in parts[2].split(separator: ",") {
            let item = pair.split(separator: "=")
            guard item.count == 2, let value = Int(item[1]), values[item[0]] == nil else { return nil }
            values[item[0]] = value
        }
        guard values.count == 3, let logN = values["ln"], let r = values["r"], let p = values["p"], (1...64).contains(logN) else { return nil }
        let parameters = ScryptParameters(logN: UInt8(logN), blockSize: r, parallelism: p)
        guard parameters.isAcceptable,
            let salt = Base64URL.decodeStandardUnpadded(parts[3]), salt.count >= 8,
            let hash = Base64URL.decodeStandardUnpadded(parts[4]), hash.count >= 16
        else { return nil }
        return .scrypt(parameters, salt: salt, hash: hash)
    }

    /// `$2a$`/`$2b$`/`$2y$`, a two-digit cost of 4–18 (higher would let one imported row stall a login), and
    /// 53 characters of bcrypt's base64 alphabet (22 of salt, 31 of hash).
    static func isBcrypt(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 60, bytes[0] == UInt8(ascii: "$"), bytes[1] == UInt8(ascii: "2"),
            [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "y")].contains(bytes[2]),
            bytes[3] == UInt8(ascii: "$"), bytes[6] == UInt8(ascii: "$"),
            let cost = Int(String(decoding: bytes[4..<6], as: UTF8.self)), (4...18).contains(cost)
        else { return false }
        return bytes[7...].allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return false
            }
        }
    }
}
