import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// authctl's standard output, the one owner of its writes: authctl's lines and the services' lines interleave on one
/// terminal or pipe, so each line goes out whole, with write(2) (`print` would hold ours back in stdio's buffer when
/// the output is a pipe), retried on partial writes and EINTR. Errors (a closed terminal, a reader that went away) are
/// ignored: losing log lines must never stop the services' supervisor — FileHandle's `write` would end the process
/// with a fatal error instead.
final class StandardOutput: Sendable {
    /// The process's standard output.
    static let shared = StandardOutput(descriptor: STDOUT_FILENO)

    /// The descriptor, held for the length of one write so that lines never mix.
    private let descriptor: Mutex<Int32>

    /// Output to an open file descriptor.
    init(descriptor: Int32) {
        self.descriptor = Mutex(descriptor)
    }

    /// One whole line: prefix, text, newline.
    func writeLine(_ prefix: String, _ line: Data) {
        var bytes = Array(prefix.utf8)
        bytes += line
        bytes.append(0x0A)
        writeAll(bytes)
    }

    /// Text without a newline (a progress line).
    func writeRaw(_ text: String) {
        writeAll(Array(text.utf8))
    }

    private func writeAll(_ bytes: [UInt8]) {
        descriptor.withLock { descriptor in
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}

/// Writes a line to standard output at once (through ``StandardOutput/shared``).
func say(_ text: String) {
    StandardOutput.shared.writeLine("", Data(text.utf8))
}
