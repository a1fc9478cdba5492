import Foundation
import Logging
import NIOConcurrencyHelpers

/// A swift-log handler that writes one JSON object per line to standard output (DESIGN.md §9: structured logs).
///
/// Fields: `ts` (RFC 3339 with milliseconds), `level`, `service`, `msg`, then the metadata (request id, route, …).
/// Callers log causes and identifiers; tokens, passwords and secrets are never passed to a logger in this codebase.
public struct JSONLogHandler: LogHandler {
    /// Serialises writers so lines never interleave.
    private static let outputLock = NIOLock()

    /// Metadata attached to every line of this logger.
    public var metadata: Logger.Metadata = [:]
    /// Lowest level written.
    public var logLevel: Logger.Level
    private let service: String

    /// A handler for `service` that writes messages at `level` and above.
    public init(service: String, level: Logger.Level) {
        self.service = service
        self.logLevel = level
    }

    /// Metadata lookup by key.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one line.
    public func log(event: LogEvent) {
        var fields: [String: Any] = [
            "ts": Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            "level": event.level.rawValue,
            "service": service,
            "msg": event.message.description,
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new }) {
            fields[key] = Self.jsonValue(value)
        }
        guard var line = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        line.append(0x0A)
        Self.outputLock.withLock { FileHandle.standardOutput.write(line) }
    }

    private static func jsonValue(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let string): string
        case .stringConvertible(let convertible): convertible.description
        case .array(let array): array.map(jsonValue)
        case .dictionary(let dictionary): dictionary.mapValues(jsonValue)
        }
    }
}
