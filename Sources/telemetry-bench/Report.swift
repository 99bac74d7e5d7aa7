import Foundation

/// What `make bench` writes: every figure next to the baseline measured in the same run.
struct Report: Codable {
    struct Figure: Codable {
        var section: String
        var name: String
        var value: Double
        var unit: String
        var baseline: String
        var baselineValue: Double
        /// value / baseline (for latencies too: lower is better there).
        var ratio: Double
        var target: String?
        var met: Bool?
    }

    struct RingFigure: Codable {
        var name: String
        var samplesPerSecond: Double
    }

    var date: String
    var commit: String
    var machine: [String: String]
    var settings: [String: String]
    var figures: [Figure] = []
    var ring: [RingFigure] = []
    var copyCeiling: Double?
    var copyCeilingConnections: Int?
    var copyTransactionMillis: PipelineBench.LatencySummary?
    var seedPerSample: Double?
    var runs: [PipelineBench.Outcome] = []
    var notes: [String] = []

    mutating func add(_ section: String, _ name: String, value: Double, unit: String, baseline: String, baselineValue: Double,
                      target: String? = nil, met: Bool? = nil) {
        figures.append(Figure(section: section, name: name, value: value, unit: unit, baseline: baseline,
                              baselineValue: baselineValue, ratio: baselineValue == 0 ? 0 : value / baselineValue,
                              target: target, met: met))
    }

    func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: "\(directory)/report.json"))
        try markdown().write(toFile: "\(directory)/report.md", atomically: true, encoding: .utf8)
        try ReportChart(report: self).svg().write(toFile: "\(directory)/report.svg", atomically: true, encoding: .utf8)
    }

    func markdown() -> String {
        var md = "# telemetry-bench report\n\n"
        md += "\(date) · commit `\(commit)` · \(machine["cpu"] ?? "?") × \(machine["cores"] ?? "?") · \(machine["kernel"] ?? "")\n\n"
        md += "Every figure is compared with a baseline measured in the same run. ![chart](report.svg)\n\n"
        md += "| section | figure | value | baseline | baseline value | ratio | target | met |\n|---|---|---:|---|---:|---:|---|:-:|\n"
        for f in figures {
            let met = f.met.map { $0 ? "yes" : "**no**" } ?? ""
            md += "| \(f.section) | \(f.name) | \(Self.format(f.value)) \(f.unit) | \(f.baseline) | \(Self.format(f.baselineValue)) \(f.unit) | \(String(format: "%.2f", f.ratio)) | \(f.target ?? "") | \(met) |\n"
        }
        if !runs.isEmpty {
            md += "\n## Pipeline runs\n\n| run | shards | processors | offered/s | committed/s | rows/txn | stored | lost | duplicates | backlog | p50 / p99 / p99.9 ms | CPU cores (hub, processor, redis, postgres) | peak RSS MiB (hub, processor) |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|---|\n"
            for r in runs {
                let latency = r.latencyMillis.map { String(format: "%.1f / %.1f / %.1f", $0.p50, $0.p99, $0.p999) } ?? ""
                let cpu = ["hub", "processor", "redis", "postgres"].map { String(format: "%.2f", r.cpuCores[$0] ?? 0) }.joined(separator: ", ")
                let rss = String(format: "%.0f, %.0f", r.peakRSSMiB["hub"] ?? 0, r.peakRSSMiB["processor"] ?? 0)
                md += "| \(r.name) | \(r.shards) | \(r.processors) | \(r.offeredPerSecond.map(Self.format) ?? "max") | \(Self.format(r.committedPerSecond)) | \(Int(r.meanTransactionRows)) | \(r.storedRows) | \(r.lost.map(String.init) ?? "") | \(r.duplicates) | \(r.backlogEntries) | \(latency) | \(cpu) | \(rss) |\n"
            }
        }
        if !ring.isEmpty {
            md += "\n## In-process queues (samples/s, median of \(RingBench.repeats))\n\n| queue | samples/s |\n|---|--:|\n"
            for r in ring { md += "| \(r.name) | \(Self.format(r.samplesPerSecond)) |\n" }
        }
        md += "\n## Settings\n\n"
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) { md += "- `\(key)`: \(value)\n" }
        if !notes.isEmpty {
            md += "\n## Notes\n\n"
            for note in notes { md += "- \(note)\n" }
        }
        return md
    }

    static func format(_ value: Double) -> String {
        if value >= 1e6 { return String(format: "%.1f M", value / 1e6) }
        if value >= 1e4 { return String(format: "%.1f k", value / 1e3) }
        if value >= 100 { return String(format: "%.0f", value) }
        return String(format: "%.2f", value)
    }
}

/// Two panels as SVG: throughput (log scale) of the pipeline runs against both storage
/// baselines, and latency percentiles at the fixed offered rates.
struct ReportChart {
    let report: Report

    func svg() -> String {
        var bars: [(String, Double, String)] = []
        if let seed = report.seedPerSample { bars.append(("seed per-sample path", seed, "#b0b0b0")) }
        for run in report.runs where run.latencyMillis == nil { bars.append((run.name, run.committedPerSecond, "#3b7dd8")) }
        if let copy = report.copyCeiling { bars.append(("raw COPY ceiling", copy, "#2a9d5b")) }
        let width = 980.0, rowHeight = 22.0, left = 230.0, plot = 300.0
        let throughputHeight = 40 + Double(bars.count) * rowHeight
        let latencyRuns = report.runs.filter { $0.latencyMillis != nil }
        let height = max(throughputHeight, 40 + Double(latencyRuns.count) * 3 * rowHeight) + 30
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="10" y="18" font-size="14" font-weight="bold">Throughput, samples/s (log scale)</text>

            """
        let maxValue = max(10, bars.map(\.1).max() ?? 10)
        let lo = 3.0, hi = log10(maxValue * 1.5)
        func x(_ v: Double) -> Double { left + plot * max(0, (log10(max(v, 1)) - lo) / (hi - lo)) }
        for (index, bar) in bars.enumerated() {
            let y = 30 + Double(index) * rowHeight
            svg += "<text x=\"\(left - 6)\" y=\"\(y + 14)\" text-anchor=\"end\">\(escape(bar.0))</text>\n"
            svg += "<rect x=\"\(left)\" y=\"\(y + 3)\" width=\"\(max(1, x(bar.1) - left))\" height=\"\(rowHeight - 6)\" fill=\"\(bar.2)\"/>\n"
            svg += "<text x=\"\(x(bar.1) + 4)\" y=\"\(y + 14)\">\(Report.format(bar.1))</text>\n"
        }
        // Latency panel.
        let left2 = 700.0, plot2 = 200.0
        svg += "<text x=\"600\" y=\"18\" font-size=\"14\" font-weight=\"bold\">Sample → commit latency, ms (log scale)</text>\n"
        let maxLatency = max(1, latencyRuns.compactMap { $0.latencyMillis?.p999 }.max() ?? 1)
        func x2(_ v: Double) -> Double { left2 + plot2 * max(0, (log10(max(v, 0.1)) + 1) / (log10(maxLatency * 1.5) + 1)) }
        var row = 0
        for run in latencyRuns {
            guard let l = run.latencyMillis else { continue }
            for (label, value, color) in [("p50", l.p50, "#9ecae1"), ("p99", l.p99, "#4292c6"), ("p99.9", l.p999, "#08519c")] {
                let y = 30 + Double(row) * rowHeight
                svg += "<text x=\"\(left2 - 6)\" y=\"\(y + 14)\" text-anchor=\"end\">\(escape(run.name)) \(label)</text>\n"
                svg += "<rect x=\"\(left2)\" y=\"\(y + 3)\" width=\"\(max(1, x2(value) - left2))\" height=\"\(rowHeight - 6)\" fill=\"\(color)\"/>\n"
                svg += "<text x=\"\(x2(value) + 4)\" y=\"\(y + 14)\">\(String(format: "%.1f", value))</text>\n"
                row += 1
            }
        }
        svg += "<text x=\"10\" y=\"\(Int(height) - 8)\" fill=\"#666\">\(escape(report.date)) · \(escape(report.commit)) · telemetry-bench</text>\n"
        return svg + "</svg>\n"
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
