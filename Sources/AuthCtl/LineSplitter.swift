import Foundation
import Synchronization

/// Splits a byte stream into lines; a final partial line comes out when the stream ends.
final class LineSplitter: Sendable {
    /// Bytes after the last newline seen.
    private let pending = Mutex(Data())

    /// An empty splitter.
    init() {}

    /// The complete lines (without their newline) that `chunk` finishes; with `final`, also what is left.
    func feed(_ chunk: Data, final: Bool) -> [Data] {
        pending.withLock { pending in
            pending.append(chunk)
            var lines: [Data] = []
            while let newline = pending.firstIndex(of: 0x0A) {
                lines.append(Data(pending[pending.startIndex..<newline]))
                pending.removeSubrange(pending.startIndex...newline)
            }
            if final && !pending.isEmpty {
                lines.append(pending)
                pending = Data()
            }
            return lines
        }
    }
}
