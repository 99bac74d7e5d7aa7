import Foundation
import Testing

/// `make bench` is not part of `make test` (minutes of load on a shared machine), so its baselines
/// would break unseen: migration 3 widened `metric_id` and the raw COPY baseline kept sending int2
/// until a bench run stopped on it. This runs the storage baselines for a second each.
// Among the replica drills: its raw COPY floods the WAL, which would make the shared replica's
// replay (and so the drills' timings) fall behind.
extension ReplicaDrills {
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

    @Test("telemetry-bench's query section (a query daemon under wrk: health, latest from the cache and the primary, series) runs against the test servers")
    func querySection() async throws {
        _ = try TestServers.redis()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("bench-query-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let (status, output) = try await runTool("telemetry-bench", [
            "--only", "query", "--short-seconds", "1", "--redis-port", "\(TestServers.redisPort)", "--pg-port", "\(TestServers.pgPort)",
            "--out", out, "--run-dir", TestServers.root.appendingPathComponent(".run/test").path, "--bin-dir", TestServers.binDirectory,
        ])
        #expect(status == 0, "\(output)")
        let report = (try? String(contentsOfFile: "\(out)/report.md", encoding: .utf8)) ?? ""
        for figure in ["latest from the Redis cache", "latest from the primary", "24 h of 1 Hz data", "30 days at step=1h"] {
            #expect(report.contains(figure), "\(figure) missing:\n\(report)\n\(output)")
        }
    }

    @Test("telemetry-bench's lake section (a seeded day: COPY out, Parquet exports, bytes per sample) runs against the test servers")
    func lakeSection() async throws {
        _ = try TestServers.redis()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("bench-lake-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let (status, output) = try await runTool("telemetry-bench", [
            "--only", "lake", "--lake-devices", "10", "--redis-port", "\(TestServers.redisPort)", "--pg-port", "\(TestServers.pgPort)",
            "--out", out, "--run-dir", TestServers.root.appendingPathComponent(".run/test").path,
        ])
        #expect(status == 0, "\(output)")
        let report = (try? String(contentsOfFile: "\(out)/report.md", encoding: .utf8)) ?? ""
        for figure in ["export to Parquet, ZSTD", "bytes per sample in Parquet, ZSTD", "COPY (same query) TO STDOUT"] {
            #expect(report.contains(figure), "\(figure) missing:\n\(report)\n\(output)")
        }
    }

    @Test("telemetry-bench's peers section (line protocol to influxd and the hub, MQTT through Mosquitto to rows and to mosquitto_sub) runs against the test servers")
    func peersSection() async throws {
        _ = try TestServers.redis()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("bench-peers-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let (status, output) = try await runTool("telemetry-bench", [
            "--only", "peers", "--peer-points", "20000", "--peer-messages", "2000", "--redis-port", "\(TestServers.redisPort)", "--pg-port", "\(TestServers.pgPort)",
            "--out", out, "--run-dir", TestServers.root.appendingPathComponent(".run/test").path, "--bin-dir", TestServers.binDirectory,
        ])
        #expect(status == 0, "\(output)")
        let report = (try? String(contentsOfFile: "\(out)/report.md", encoding: .utf8)) ?? ""
        for figure in ["line protocol points/s acknowledged", "influxd 1.6, same corpus", "MQTT QoS 1 messages/s", "plain mosquitto_sub"] {
            #expect(report.contains(figure), "\(figure) missing:\n\(report)\n\(output)")
        }
    }

    /// One pipeline run of a synthetic report.
    static func run(_ name: String, committed: Double, latency: (Double, Double, Double)? = nil) -> [String: Any] {
        var run: [String: Any] = ["name": name, "shards": 8, "processors": 1, "committedPerSecond": committed, "storedRows": 1,
                                  "duplicates": 0, "backlogEntries": 0, "meanTransactionRows": 1, "cpuCores": [String: Double](),
                                  "peakRSSMiB": [String: Double]()]
        if let (p50, p99, p999) = latency {
            run["latencyMillis"] = ["samples": 10, "p50": p50, "p99": p99, "p999": p999, "max": p999]
        }
        return run
    }

    @Test("report.svg is readable: every label inside the picture, bars on a linear scale next to both baselines, the ratios in words, a legend; librsvg renders it",
          arguments: [(522.0, 196_942.9), (0.0, 1e308), (3.5, 12.0)])
    func chart(seed: Double, copy: Double) async throws {
        let directory = "\(TestServers.logDirectory)/chart-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let report: [String: Any] = [
            "date": "2026-12-03T08:46:14Z", "commit": "c52e431", "machine": [String: String](), "settings": [String: String](), "figures": [Any](),
            "ring": [Any](), "notes": [Any](), "seedPerSample": seed, "copyCeiling": copy,
            "runs": [Self.run("capacity, 1 processor, 8 shards", committed: 146_900),
                     Self.run("sustained end-to-end (20 s) at 161.6 k/s offered, simulated sensors → committed rows, 4 processors, 16 shards",
                              committed: 161_800),
                     Self.run("idle <&> run", committed: 0),
                     Self.run("latency at 10 k/s", committed: 10_000, latency: (14.9, 31, 45.5)),
                     Self.run("latency at 100 k/s", committed: 100_000, latency: (168, 360, 447))],
        ]
        try JSONSerialization.data(withJSONObject: report).write(to: URL(fileURLWithPath: "\(directory)/in.json"))
        let (status, output) = try await runTool("telemetry-bench", ["--chart-from", "\(directory)/in.json", "--out", directory])
        #expect(status == 0, "\(output)")
        let svg = try String(contentsOfFile: "\(directory)/report.svg", encoding: .utf8)
        let widthText = try #require(svg.firstMatch(of: /<svg[^>]* width="(\d+)"/)?.1)
        let width = try #require(Double(widthText))
        // Every text within the picture, at the chart's own (rounded-up) character width.
        var texts = 0
        for match in svg.matches(of: /<text x="([-0-9.e]+)" y="[-0-9.e]+"([^>]*)>([^<]*)<\/text>/) {
            texts += 1
            let x = try #require(Double(match.1))
            let content = String(match.3).replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&lt;", with: "<")
                .replacingOccurrences(of: "&gt;", with: ">")
            let size = match.2.contains("font-size=\"14\"") ? 14.0 : 12.0
            let extent = Double(content.count) * 7.7 * size / 12
            let anchor = match.2.contains("middle") ? 0.5 : match.2.contains("end") ? 1 : 0
            #expect(x - extent * anchor >= 0 && x + extent * (1 - anchor) <= width, "cut off: \(content) at x \(x)")
        }
        #expect(texts > 20)
        for match in svg.matches(of: /<rect x="([-0-9.e]+)" y="[-0-9.e]+" width="([-0-9.e]+)"/) {
            let x = try #require(Double(match.1))
            let w = try #require(Double(match.2))
            #expect(x >= 0 && x + w <= width && w.isFinite)
        }
        #expect(svg.contains("linear scale") && !svg.contains("log scale"))
        #expect(svg.contains("pipeline run") && svg.contains("seed per-sample path (baseline)") && svg.contains("raw COPY ceiling (baseline"))
        #expect(svg.contains("p50") && svg.contains("p99.9"))
        #expect(svg.contains("idle &lt;&amp;&gt; run"))
        if copy == 196_942.9 && seed == 522 {
            #expect(svg.contains("146.9 k/s · 0.75× raw COPY · 281× seed path"), "\(svg)")
            // Linear: bar widths in proportion to the values.
            let bars = svg.matches(of: /<rect x="20.0" y="[-0-9.e]+" width="([-0-9.e]+)" height="14" fill="#(2a9d5b|3b7dd8)"/)
                .compactMap { Double($0.1) }
            #expect(bars.count == 4 && abs(bars[1] / bars[0] - 146_900 / 196_942.9) < 0.01, "\(bars)")
        }
        let png = "\(directory)/report.png"
        let (rendered, renderOutput) = try await runTool("/usr/bin/rsvg-convert", ["-o", png, "\(directory)/report.svg"])
        #expect(rendered == 0 && renderOutput.isEmpty, "\(renderOutput)")
        let size = (try? FileManager.default.attributesOfItem(atPath: png))?[.size] as? Int ?? 0
        #expect(size > 10_000)
    }
}
}
