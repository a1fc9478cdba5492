import Foundation

/// Typed reads of environment variables; every failure names the variable and what it expects.
public struct EnvironmentReader: Sendable {
    private let environment: [String: String]

    public init(_ environment: [String: String]) { self.environment = environment }

    public func nonEmpty(_ name: String, default value: String) throws(ServiceSettings.InvalidSetting) -> String {
        guard let text = environment[name] else { return value }
        guard !text.isEmpty else { throw ServiceSettings.InvalidSetting(variable: name, reason: "must not be empty") }
        return text
    }

    /// A comma-separated list; blanks around items are dropped, empty items are an error.
    public func list(_ name: String, default value: [String]) throws(ServiceSettings.InvalidSetting) -> [String] {
        guard let text = environment[name] else { return value }
        if text.allSatisfy({ $0 == " " }) { return [] }
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !items.contains(where: \.isEmpty) else {
            throw ServiceSettings.InvalidSetting(variable: name, reason: "expected a comma-separated list without empty items")
        }
        return items
    }

    public func seconds(_ name: String, default value: Double, allowZero: Bool = false) throws(ServiceSettings.InvalidSetting) -> Double {
        guard let text = environment[name] else { return value }
        guard let seconds = Double(text), seconds.isFinite, seconds > 0 || (allowZero && seconds == 0) else {
            throw ServiceSettings.InvalidSetting(variable: name, reason: allowZero ? "expected seconds ≥ 0" : "expected a positive number of seconds")
        }
        return seconds
    }

    public func integer(_ name: String, default value: Int, in range: ClosedRange<Int>) throws(ServiceSettings.InvalidSetting) -> Int {
        guard let text = environment[name] else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw ServiceSettings.InvalidSetting(variable: name, reason: "expected a whole number \(range.lowerBound)–\(range.upperBound)")
        }
        return number
    }

    public func bool(_ name: String, default value: Bool) throws(ServiceSettings.InvalidSetting) -> Bool {
        guard let text = environment[name] else { return value }
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw ServiceSettings.InvalidSetting(variable: name, reason: "expected true or false")
        }
    }
}
