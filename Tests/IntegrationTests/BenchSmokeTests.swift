import Foundation
import Testing

/// `make bench` is not part of `make test` (minutes of load on a shared machine), so its baselines
/// would break unseen: migration 3 widened `metric_id` and the raw COPY baseline kept sending int2
/// until a bench run stopped on it. This runs the storage baselines for a second each.
@Suite("Bench smoke", .serialized)
struct BenchSmokeTests {
    @Test("telemetry-bench's storage baselines (raw binary COPY into the current schema, the seed per-sample path) run against the test servers")
    func storageBaselines() async throws {
        _ = try TestServers.redis()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("bench-smoke-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let (status, output) = try await runTool("telemetry-bench", [
            "--only", "storage", "--short-seconds", "1", "--redis-port", "\(TestServers.redisPort)", "--pg-port", "\(TestServers.pgPort)",
            "--out", out, "--run-dir", TestServers.root.appendingPathComponent(".run/test").path,
        ])
        #expect(status == 0, "\(output)")
        let report = (try? String(contentsOfFile: "\(out)/report.md", encoding: .utf8)) ?? ""
        #expect(report.contains("raw COPY") || output.contains("raw COPY ceiling"), "\(output)")
    }
}
