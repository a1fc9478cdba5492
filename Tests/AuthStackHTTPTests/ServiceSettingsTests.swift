import AuthStackCore
import AuthStackHTTP
import Logging
import Testing

@Suite struct ServiceSettingsTests {
    @Test func defaultsApplyWhenNothingIsSet() throws {
        let settings = try ServiceSettings(prefix: "NOTES", defaultPort: 8082, environment: [:])
        #expect(settings == ServiceSettings(host: "127.0.0.1", port: 8082, logLevel: .info))
    }

    @Test func prefixedVariablesOverrideDefaults() throws {
        let settings = try ServiceSettings(
            prefix: "NOTES",
            defaultPort: 8082,
            environment: ["NOTES_HOST": "0.0.0.0", "NOTES_PORT": "9000", "LOG_LEVEL": "DEBUG"]
        )
        #expect(settings == ServiceSettings(host: "0.0.0.0", port: 9000, logLevel: .debug))
    }

    @Test(arguments: [["NOTES_PORT": "http"], ["NOTES_PORT": "70000"], ["LOG_LEVEL": "loud"]])
    func invalidValuesAreAClearError(environment: [String: String]) {
        #expect(throws: InvalidSetting.self) { _ = try ServiceSettings(prefix: "NOTES", defaultPort: 8082, environment: environment) }
    }
}
