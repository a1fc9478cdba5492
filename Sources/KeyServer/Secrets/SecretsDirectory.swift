import AuthStackCore
import Foundation

/// The files in `keys/` that the stack's secrets live in (docs/design.md §8): `master.key`, which encrypts the key
/// service's key secrets at rest, and one `<client>.token` per key-service client.
///
/// Files are created with mode 0600 from the start (never written world-readable and then chmod-ed), and an existing
/// file is never overwritten unless `force` is set: losing `master.key` makes every stored signing key unreadable.
public struct SecretsDirectory: Sendable {
    /// The key-service clients `init` creates tokens for, with their roles.
    public static let clients: [(name: String, role: ClientRole)] = [("identity", .signer), ("notes", .verifier), ("admin", .admin)]

    /// Why writing failed.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// The file exists and `force` was not given.
        case exists(String)
        /// The file could not be created or written (with the system's reason).
        case cannotWrite(String, String)

        /// A message for the operator.
        public var description: String {
            switch self {
            case .exists(let path): "\(path) already exists; pass --force to overwrite it (this invalidates what it protects)"
            case .cannotWrite(let path, let reason): "cannot write \(path): \(reason)"
            }
        }
    }

    /// The directory, e.g. `keys`.
    public let path: String

    /// A secrets directory at `path`.
    public init(path: String) { self.path = path }

    /// Creates `master.key` (256 random bits) and a client token (256 random bits, `ast_` + base64url) for each of
    /// ``clients``; returns the paths written. Nothing is written unless every file may be.
    @discardableResult
    public func initialize(force: Bool) throws(Failure) -> [String] {
        let files =
            [("master.key", Base64URL.encode(SecretBytes.random(count: 32).bytes))]
            + Self.clients.map { ("\($0.name).token", ClientRecord.newToken()) }
        let paths = files.map { (path as NSString).appendingPathComponent($0.0) }
        if !force, let existing = paths.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            throw .exists(existing)
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .cannotWrite(path, "\(error.localizedDescription)")
        }
        // An existing directory (made by hand, or by an older version) is tightened too: the secrets are only as
        // private as the directory that lists them.
        guard chmod(path, 0o700) == 0 else { throw .cannotWrite(path, String(cString: strerror(errno))) }
        for (filePath, (_, content)) in zip(paths, files) {
            try Self.writePrivate(content + "\n", to: filePath)
        }
        return paths
    }

    /// The clients whose token files `authctl init` wrote and that exist here: the key service adds each once
    /// (docs/design.md §5.4). A missing file is skipped; one that exists but cannot be read, or is empty, is an error.
    func clientSeeds() throws -> [ClientManager.Seed] {
        try Self.clients.compactMap { client in
            let file = (path as NSString).appendingPathComponent("\(client.name).token")
            guard FileManager.default.fileExists(atPath: file) else { return nil }
            let token = try read("\(client.name).token")
            guard !token.isEmpty else { throw EmptyTokenFile(path: file) }
            return ClientManager.Seed(name: client.name, role: client.role, token: token)
        }
    }

    /// A client token file without a token.
    struct EmptyTokenFile: Error, CustomStringConvertible {
        let path: String
        var description: String { "\(path) is empty (run `authctl init --force` to write new tokens)" }
    }

    /// Reads a secret file, trimming the trailing newline.
    public func read(_ name: String) throws -> String {
        let text = try String(contentsOfFile: (path as NSString).appendingPathComponent(name), encoding: .utf8)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes `content` to `filePath` with mode 0600 from the start, replacing an existing file.
    public static func writePrivate(_ content: String, to filePath: String) throws(Failure) {
        unlink(filePath)
        let descriptor = open(filePath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .cannotWrite(filePath, String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let bytes = Array(content.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else { throw .cannotWrite(filePath, String(cString: strerror(errno))) }
    }
}
