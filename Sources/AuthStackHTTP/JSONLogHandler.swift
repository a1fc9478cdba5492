import Foundation
import Logging
import NIOConcurrencyHelpers

/// A swift-log handler that writes one JSON object per line to standard output (docs/design.md §9: structured logs).
///
/// Fields: `ts` (RFC 3339 with milliseconds), `level`, `service`, `msg`, then the metadata (request id, route, …).
/// Integers and floating-point values given as `.stringConvertible` are JSON numbers (`"status":200`,
/// `"duration_ms":0.412`), everything else a string, array or object. The request id appears once, as `request_id`:
/// Hummingbird's own `hb.request.id` key (kept equal to it by ``RequestLogMiddleware``) is folded into it.
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
        guard let line = line(for: event, at: Date()) else { return }
        Self.outputLock.withLock { FileHandle.standardOutput.write(line) }
    }

    /// The JSON line (newline included) for `event` at `time`.
    func line(for event: LogEvent, at time: Date) -> Data? {
        var fields: [String: Any] = [
            "ts": time.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            "level": event.level.rawValue,
            "service": service,
            "msg": event.message.description,
        ]
        var merged = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new })
        if let hummingbirdID = merged.removeValue(forKey: Self.hummingbirdRequestID), merged["request_id"] == nil {
            merged["request_id"] = hummingbirdID
        }
        for (key, value) in merged {
            fields[key] = Self.jsonValue(value)
        }
        guard var line = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]) else { return nil }
        line.append(0x0A)
        return line
    }

    /// The metadata key Hummingbird gives each request's id.
    static let hummingbirdRequestID = "hb.request.id"

    static func jsonValue(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let string): string
        case .stringConvertible(let number as any BinaryInteger): Int(number)
        case .stringConvertible(let number as Double) where number.isFinite: number
        case .stringConvertible(let convertible): convertible.description
        case .array(let array): array.map(jsonValue)
        case .dictionary(let dictionary): dictionary.mapValues(jsonValue)
        }
    }
}
