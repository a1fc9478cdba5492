import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Finds the process listening on a local TCP port (Linux `/proc`), to pause the key service for an outage drill.
enum ListeningProcess {
    /// The pid of the process listening on `url`'s port on this machine.
    static func pid(forURL url: String) throws -> pid_t {
        guard let port = URLComponents(string: url)?.port else { throw CommandFailure("\(url) names no port") }
        var inodes: Set<String> = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 9, fields[3] == "0A", let local = fields[1].split(separator: ":").last,
                    Int(local, radix: 16) == port
                else { continue }
                inodes.insert(String(fields[9]))
            }
        }
        guard !inodes.isEmpty else {
            throw CommandFailure("nothing listens on port \(port) here; --key-outage needs the key service on this machine")
        }
        let processes = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in processes {
            guard let pid = pid_t(entry) else { continue }
            let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(entry)/fd")) ?? []
            for descriptor in descriptors {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/fd/\(descriptor)"),
                    target.hasPrefix("socket:["), inodes.contains(String(target.dropFirst(8).dropLast()))
                {
                    return pid
                }
            }
        }
        throw CommandFailure("cannot find the process listening on port \(port) (run the drill as the same user as the stack)")
    }
}
