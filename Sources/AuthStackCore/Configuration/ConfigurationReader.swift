import Foundation
import Synchronization

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
///
/// A reader made with ``recording()`` also notes every variable asked for, with its default and what it accepts:
/// that list is a program's `--help`, so it cannot miss a setting the program reads.
public struct ConfigurationReader: Sendable {
    /// One variable a program reads, as `--help` lists it.
    public struct Setting: Sendable, Equatable {
        /// The environment variable.
        public let variable: String
        /// Its default, as text (`none` when it has none).
        public let defaultValue: String
        /// What a value must be.
        public let accepted: String
    }

    private let environment: [String: String]
    private let recorder: Recorder?

    /// Reads from `environment` (a process's, or a test's dictionary).
    public init(_ environment: [String: String]) {
        self.environment = environment
        recorder = nil
    }

    /// A reader of an empty environment that notes every variable asked for (``settings``).
    public static func recording() -> ConfigurationReader { ConfigurationReader(recorder: Recorder()) }

    private init(recorder: Recorder) {
        environment = [:]
        self.recorder = recorder
    }

    /// The variables read so far by a ``recording()`` reader, in order, each once.
    public var settings: [Setting] { recorder?.settings ?? [] }

    /// An optional value: nil when unset or empty.
    public func optional(_ name: String, accepted: String) -> String? {
        recorder?.note(name, "none", accepted)
        guard let text = environment[name], !text.isEmpty else { return nil }
        return text
    }

    /// Any non-empty text (a URL, a host).
    public func text(_ name: String, default value: String, accepted: String = "non-empty text") throws(InvalidSetting) -> String {
        recorder?.note(name, value, accepted)
        guard let text = environment[name] else { return value }
        guard !text.isEmpty else { throw InvalidSetting(variable: name, reason: "must not be empty") }
        return text
    }

    /// A file or directory path: non-empty.
    public func path(_ name: String, default value: String) throws(InvalidSetting) -> String {
        recorder?.note(name, value, "a non-empty path")
        guard let text = environment[name] else { return value }
        guard !text.isEmpty else { throw InvalidSetting(variable: name, reason: "expected a file path") }
        return text
    }

    /// The content of the secret file named by `name` (a password kept out of the environment), its surrounding white
    /// space trimmed; nil when unset or empty. A file that cannot be read, or holds nothing, is an ``InvalidSetting``
    /// that names the file and never quotes it.
    public func secretFile(_ name: String) throws(InvalidSetting) -> String? {
        recorder?.note(name, "none", "a readable file")
        guard let path = environment[name], !path.isEmpty else { return nil }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw InvalidSetting(variable: name, reason: "cannot read \(path) (it must exist and be readable by this process)")
        }
        let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty, !secret.contains(where: \.isNewline) else {
            throw InvalidSetting(variable: name, reason: "\(path) must hold one non-empty line")
        }
        return secret
    }

    /// A name (an issuer, an audience): non-empty, without white space.
    public func name(_ name: String, default value: String) throws(InvalidSetting) -> String {
        recorder?.note(name, value, "a name without spaces")
        guard let text = environment[name] else { return value }
        guard !text.isEmpty, !text.contains(where: \.isWhitespace) else {
            throw InvalidSetting(variable: name, reason: "expected a non-empty name without spaces")
        }
        return text
    }

    /// A comma-separated list; blanks around items are dropped, empty items are an error, a blank value is `[]`.
    public func list(_ name: String, default value: [String], accepted: String = "a comma-separated list") throws(InvalidSetting) -> [String] {
        recorder?.note(name, value.isEmpty ? "none" : value.joined(separator: ","), accepted)
        guard let text = environment[name] else { return value }
        if text.allSatisfy({ $0 == " " }) { return [] }
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !items.contains(where: \.isEmpty) else {
            throw InvalidSetting(variable: name, reason: "expected a comma-separated list without empty items")
        }
        return items
    }

    /// A comma-separated list of exact browser origins (`https://app.example.com`, `http://localhost:5173`): scheme
    /// `http` or `https`, a host, an optional port, nothing else; never `*`.
    public func origins(_ name: String) throws(InvalidSetting) -> [String] {
        let origins = try list(name, default: [], accepted: "exact origins (https://app.example.com), comma-separated")
        if let origin = origins.first(where: { !Self.isOrigin($0) }) {
            throw InvalidSetting(variable: name, reason: "\(origin) is not an exact origin like https://app.example.com (no path, no *)")
        }
        return origins
    }

    /// Whether `text` is an exact origin: `http` or `https`, a host, an optional port, nothing else.
    public static func isOrigin(_ text: String) -> Bool {
        guard let schemeEnd = text.range(of: "://") else { return false }
        let scheme = text[..<schemeEnd.lowerBound]
        let authority = text[schemeEnd.upperBound...]
        guard scheme == "http" || scheme == "https", !authority.isEmpty else { return false }
        return authority.allSatisfy { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":" || $0 == "[" || $0 == "]" }
            && authority.first != ":" && !authority.hasSuffix(":")
    }

    /// A number of seconds within `range`.
    public func seconds(_ name: String, default value: Double, in range: ClosedRange<Double>) throws(InvalidSetting) -> Double {
        let bounds = "\(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))"
        recorder?.note(name, Self.format(value), "seconds from " + bounds)
        guard let text = environment[name] else { return value }
        guard let seconds = Double(text), seconds.isFinite, range.contains(seconds) else {
            throw InvalidSetting(variable: name, reason: "expected seconds from " + bounds)
        }
        return seconds
    }

    /// A whole number within `range`.
    public func integer(_ name: String, default value: Int, in range: ClosedRange<Int>) throws(InvalidSetting) -> Int {
        recorder?.note(name, String(value), Self.wholeNumber(in: range))
        guard let text = environment[name] else { return value }
        return try Self.wholeNumber(text, of: name, in: range)
    }

    /// A whole number within `range`, or nil when unset or empty (a feature that is off by default).
    public func optionalInteger(_ name: String, in range: ClosedRange<Int>) throws(InvalidSetting) -> Int? {
        recorder?.note(name, "none", Self.wholeNumber(in: range))
        guard let text = environment[name], !text.isEmpty else { return nil }
        return try Self.wholeNumber(text, of: name, in: range)
    }

    /// `a whole number from L to U`.
    private static func wholeNumber(in range: ClosedRange<Int>) -> String { "a whole number from \(range.lowerBound) to \(range.upperBound)" }

    /// `text` as a whole number within `range`, or the ``InvalidSetting`` of `name`.
    private static func wholeNumber(_ text: String, of name: String, in range: ClosedRange<Int>) throws(InvalidSetting) -> Int {
        guard let number = Int(text), range.contains(number) else {
            throw InvalidSetting(variable: name, reason: "expected " + wholeNumber(in: range))
        }
        return number
    }

    /// `true`, `1`, `yes`, `on` or `false`, `0`, `no`, `off`, in any case.
    public func bool(_ name: String, default value: Bool) throws(InvalidSetting) -> Bool {
        recorder?.note(name, String(value), "true or false")
        guard let text = environment[name] else { return value }
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw InvalidSetting(variable: name, reason: "expected true or false")
        }
    }

    /// One of a fixed set of values (`LOG_LEVEL`, `KEYS_ALGORITHM`), by raw value, in any case.
    public func choice<Value: RawRepresentable & CaseIterable>(_ name: String, default value: Value) throws(InvalidSetting) -> Value
    where Value.RawValue == String {
        let names = Value.allCases.map(\.rawValue)
        let accepted = names.count > 1 ? names.dropLast().joined(separator: ", ") + " or " + names[names.count - 1] : names.joined()
        recorder?.note(name, value.rawValue, accepted)
        guard let text = environment[name] else { return value }
        guard let chosen = Value.allCases.first(where: { $0.rawValue.lowercased() == text.lowercased() }) else {
            throw InvalidSetting(variable: name, reason: "expected " + accepted)
        }
        return chosen
    }

    /// `30`, not `30.0`; `0.5` as it is.
    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    /// The variables a recording reader was asked for.
    private final class Recorder: Sendable {
        private let noted = Mutex<[Setting]>([])

        var settings: [Setting] { noted.withLock { $0 } }

        func note(_ variable: String, _ defaultValue: String, _ accepted: String) {
            noted.withLock { settings in
                if !settings.contains(where: { $0.variable == variable }) {
                    settings.append(Setting(variable: variable, defaultValue: defaultValue, accepted: accepted))
                }
            }
        }
    }
}
