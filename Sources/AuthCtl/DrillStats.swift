import Foundation
import Synchronization

/// Counts by operation and status.
final class DrillStats: Sendable {
    /// What the lock guards.
    private struct Counts {
        /// Requests by operation, then by status (0: no answer).
        var byOperation: [String: [UInt: Int]] = [:]
        /// Valid requests that failed.
        var failed = 0
        /// 401s the drill caused and the client recovered from.
        var expectedRejections = 0
        /// Every request.
        var total = 0
    }

    private let counts = Mutex(Counts())

    /// No requests yet.
    init() {}

    /// One request's outcome; `expected` marks a 401 the drill caused (an expired token, or one of a revoked key).
    func record(_ operation: String, status: UInt, ok: Bool, expected: Bool = false) {
        counts.withLock { counts in
            counts.byOperation[operation, default: [:]][status, default: 0] += 1
            counts.total += 1
            if !ok { counts.failed += 1 }
            if expected { counts.expectedRejections += 1 }
        }
    }

    /// How many valid requests failed so far.
    var failures: Int { counts.withLock { $0.failed } }

    /// Overwrites the progress line with the totals.
    func printProgress() {
        let (total, failed) = counts.withLock { ($0.total, $0.failed) }
        StandardOutput.shared.writeRaw("\rdrill: \(total) requests, \(failed) failed   ")
    }

    /// The report: requests by operation and status, the totals, and each measured propagation time.
    func table(propagation: [(String, Double?)]) -> String {
        counts.withLock { counts in
            var lines = ["operation            requests  by status", "-------------------  --------  ---------"]
            for (operation, statuses) in counts.byOperation.sorted(by: { $0.key < $1.key }) {
                let byStatus = statuses.sorted { $0.key < $1.key }.map { "\($0.key == 0 ? "error" : String($0.key)): \($0.value)" }
                lines.append(
                    operation.padding(toLength: 21, withPad: " ", startingAt: 0)
                        + String(statuses.values.reduce(0, +)).padding(toLength: 10, withPad: " ", startingAt: 0) + byStatus.joined(separator: ", ")
                )
            }
            lines.append("")
            lines.append(
                "requests \(counts.total), failed \(counts.failed), expected 401s (token expired or its key revoked; the client refreshed) "
                    + "\(counts.expectedRejections)"
            )
            lines.append("")
            for (event, seconds) in propagation {
                lines.append("propagation  \(event): " + (seconds.map { String(format: "%.3f s", $0) } ?? "not observed"))
            }
            return lines.joined(separator: "\n")
        }
    }
}
