import AsyncHTTPClient
import AuthStackCore
import AuthStackHTTP
import AuthStackTestSupport
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import Testing

/// `<PREFIX>_METRICS_PORT` (issue 17, item 10): `/metrics` on an address of its own, and then only there, so the API
/// port can face a network while the unauthenticated metrics stay where only the scraper reaches them.
@Suite struct MetricsListenerTests {
    private func status(_ url: String) async throws -> (code: UInt, body: String) {
        let response = try await RunningService.http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, String(buffer: body))
    }

    @Test func metricsMoveToTheirOwnPortAndLeaveTheAPIPort() async throws {
        let metricsPort = try await freePortForTest()
        var settings = ServiceSettings(host: "127.0.0.1", port: 0)
        settings.metrics = .init(host: "127.0.0.1", port: metricsPort)
        let runtime = ServiceRuntime(name: "test")
        let router = runtime.makeRouter(context: BasicRequestContext.self, metrics: settings.metrics == nil)
        router.get("/items") { _, _ in "items" }
        let service = try await RunningService.start(runtime.makeApplication(router: router, settings: settings, serverName: "test"))
        do {
            #expect(try await status("http://127.0.0.1:\(service.port)/items").code == 200)
            #expect(try await status("http://127.0.0.1:\(service.port)/healthz").code == 200)
            #expect(try await status("http://127.0.0.1:\(service.port)/metrics").code == 404, "not on the API port any more")
            var metrics: (code: UInt, body: String)? = nil
            for _ in 0..<200 {
                metrics = try? await status("http://127.0.0.1:\(metricsPort)/metrics")
                if metrics != nil { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(metrics?.code == 200)
            #expect(metrics?.body.contains(#"http_requests_total{route="/items",method="GET",status="200"} 1"#) == true, "the service's own registry")
            #expect(try await status("http://127.0.0.1:\(metricsPort)/healthz").code == 404, "the metrics listener serves /metrics alone")
            #expect(try await status("http://127.0.0.1:\(metricsPort)/items").code == 404)
        } catch {
            await service.stop()
            throw error
        }
        await service.stop()
        await #expect(throws: (any Error).self, "the metrics listener stops with the service") {
            _ = try await status("http://127.0.0.1:\(metricsPort)/metrics")
        }
    }

    @Test func settingsReadTheMetricsAddress() throws {
        let unset = try ServiceSettings(prefix: "NOTES", defaultPort: 8082, environment: [:])
        #expect(unset.metrics == nil, "by default /metrics stays on the service's port")
        let set = try ServiceSettings(prefix: "NOTES", defaultPort: 8082, environment: ["NOTES_METRICS_PORT": "9102"])
        #expect(set.metrics == .init(host: "127.0.0.1", port: 9102), "loopback unless told otherwise")
        let moved = try ServiceSettings(
            prefix: "NOTES",
            defaultPort: 8082,
            environment: ["NOTES_METRICS_PORT": "9102", "NOTES_METRICS_HOST": "10.0.0.5"]
        )
        #expect(moved.metrics == .init(host: "10.0.0.5", port: 9102))
        for value in ["-1", "65536", "nine"] {
            #expect(throws: InvalidSetting(variable: "NOTES_METRICS_PORT", reason: "expected a whole number from 0 to 65535")) {
                _ = try ServiceSettings(prefix: "NOTES", defaultPort: 8082, environment: ["NOTES_METRICS_PORT": value])
            }
        }
    }
}
