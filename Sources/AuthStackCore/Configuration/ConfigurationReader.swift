import AuthStackCore
import Foundation

/// Why a setting was refused: the environment variable and what it expects. Every program prints it as its one line
/// and exits with status 2 (docs/configuration.md).
public struct InvalidSetting: Error, CustomStringConvertible, Equatable, Sendable {
    /// The environment variable.
    public let variable: String
    /// What is wrong with its value.
    public let reason: String
    /// `VARIABLE: reason`.
    public var description: String { "\(variable): \(reason)" }

    /// An invalid `variable`, and why.
    public init(variable: String, reason: String) {
        self.variable = variable
        self.reason = reason
    }
}

/// The one reader of settings from environment variables, with the same rules for every service and every program:
///
/// - an unset variable takes the default;
/// - a set variable must be valid: an empty path or name, a number out of its bounds, an unknown word is an
///   ``InvalidSetting`` naming the variable, never a silent default;
/// - numbers are bounded, so that a typo (`IDENTITY_LEEWAY=3000`) stops the service instead of weakening it.
///
/// The one exception, kept for compose `.env` files: an empty optional value (a database URL) counts as unset.
public struct ConfigurationReader: Sendable {
    private let environment: [String: String]

    /// Reads from `environment` (a process's, or a test's dictionary).
    public init(_ environment: [String: String]) { self.environment = environment }

    /// The raw value of `name`, nil when unset.
    public subscript(_ name: String) -> String? { environment[name] }

    /// An optional value: nil when unset or empty.
    public func optional(_ name: String) -> String? {
        guard let text = environment[name], !text.isEmpty else { return nil }
        return text
    }

    /// Any non-empty text (a URL, a host).
    public func text(_ name: String, default value: String) throws(InvalidSetting) -> String {
        guard let text = environment[name] else { return value }
        guard !text.isEmpty else { throw InvalidSetting(variable: name, reason: "must not be empty") }
        return text
    }

    /// A file or directory path: non-empty.
    public func path(_ name: String, default value: String) throws(InvalidSetting) -> String {
        guard let text = environment[name] else { return value }
        guard !text.isEmpty else { throw InvalidSetting(variable: name, reason: "expected a file path") }
        return text
    }

    /// A name (an issuer, an audience): non-empty, without white space.
    public func name(_ name: String, default value: String) throws(InvalidSetting) -> String {
        guard let text = environment[name] else { return value }
        guard !text.isEmpty, !text.contains(where: \.isWhitespace) else {
            throw InvalidSetting(variable: name, reason: "expected a non-empty name without spaces")
        }
        return text
    }

    /// A comma-separated list; blanks around items are dropped, empty items are an error, a blank value is `[]`.
    public func list(_ name: String, default value: [String]) throws(InvalidSetting) -> [String] {
        guard let text = environment[name] else { return value }
        if text.allSatisfy({ $0 == " " }) { return [] }
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !items.contains(where: \.isEmpty) else {
            throw InvalidSetting(variable: name, reason: "expected a comma-separated list without empty items")
        }
        return items
    }

    /// A number of seconds within `range`.
    public func seconds(_ name: String, default value: Double, in range: ClosedRange<Double>) throws(InvalidSetting) -> Double {
        guard let text = environment[name] else { return value }
        guard let seconds = Double(text), seconds.isFinite, range.contains(seconds) else {
            throw InvalidSetting(variable: name, reason: "expected seconds from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))")
        }
        return seconds
    }

    /// A whole number within `range`.
    public func integer(_ name: String, default value: Int, in range: ClosedRange<Int>) throws(InvalidSetting) -> Int {
        guard let text = environment[name] else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw InvalidSetting(variable: name, reason: "expected a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    /// `true`, `1`, `yes`, `on` or `false`, `0`, `no`, `off`, in any case.
    public func bool(_ name: String, default value: Bool) throws(InvalidSetting) -> Bool {
        guard let text = environment[name] else { return value }
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw InvalidSetting(variable: name, reason: "expected true or false")
        }
    }

    /// `30`, not `30.0`; `0.5` as it is.
    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
