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
        guard value.isFinite else { return "?" }
        if value >= 1e9 { return String(format: "%.3g", value) }
        if value >= 1e6 { return String(format: "%.1f M", value / 1e6) }
        if value >= 1e4 { return String(format: "%.1f k", value / 1e3) }
        if value >= 100 { return String(format: "%.0f", value) }
        return String(format: "%.2f", value)
    }
}

/// The report as SVG, one panel under the other so no label competes for room: throughput of
/// each pipeline run on a linear scale next to both storage baselines of the same run (bars,
/// the raw COPY ceiling also as a dashed line, each run's ratio to both in words), then the
/// latency percentiles at the fixed offered rates; a legend under each title.
struct ReportChart {
    let report: Report

    static let width = 1000.0
    /// The advance of one character of the 12 px sans-serif text, rounded up (DejaVu Sans digits
    /// are 0.64 em), for the layout and for the test that no label leaves the picture.
    static let charWidth = 7.7
    static let margin = 20.0
    /// Room right of the longest bar for its value and ratios.
    static let valueRoom = 380.0
    static let seedColor = "#9a9a9a", copyColor = "#2a9d5b", runColor = "#3b7dd8"
    static let percentiles = [("p50", "#9ecae1"), ("p99", "#4292c6"), ("p99.9", "#08519c")]

    func svg() -> String {
        var body = ""
        var y = 28.0
        let plot = Self.width - 2 * Self.margin - Self.valueRoom

        // Throughput.
        var bars: [(label: String, value: Double, color: String)] = []
        if let seed = report.seedPerSample { bars.append(("seed per-sample path (baseline: RPUSH/BLPOP JSON, one INSERT per sample)", seed, Self.seedColor)) }
        if let copy = report.copyCeiling { bars.append(("raw COPY ceiling (baseline: binary COPY, no pipeline)", copy, Self.copyColor)) }
        for run in report.runs where run.latencyMillis == nil { bars.append((run.name, run.committedPerSecond, Self.runColor)) }
        body += title("Throughput: samples/s committed to PostgreSQL (linear scale)", y: y)
        y += 20
        body += legend([("pipeline run", Self.runColor), ("seed per-sample path (baseline)", Self.seedColor),
                        ("raw COPY ceiling (baseline; dashed line)", Self.copyColor)], y: y)
        y += 18
        let scale = Self.scale(bars.map(\.value))
        func x(_ value: Double) -> Double { Self.margin + plot * Self.fraction(value, of: scale) }
        // Under the bars and their labels.
        if let copy = report.copyCeiling, copy.isFinite, copy > 0 {
            body += "<line x1=\"\(x(copy))\" y1=\"\(y)\" x2=\"\(x(copy))\" y2=\"\(y + Double(bars.count) * 38)\" stroke=\"\(Self.copyColor)\" stroke-dasharray=\"4 3\"/>\n"
        }
        for bar in bars {
            body += text(Self.fit(bar.label, width: Self.width - 2 * Self.margin), x: Self.margin, y: y + 12)
            body += "<rect x=\"\(Self.margin)\" y=\"\(y + 17)\" width=\"\(max(1, x(bar.value) - Self.margin))\" height=\"14\" fill=\"\(bar.color)\"/>\n"
            body += text(Self.fit(valueText(bar.value, color: bar.color), width: Self.valueRoom - 8), x: x(bar.value) + 6, y: y + 29)
            y += 38
        }
        body += axis(y: y + 4, scale: scale, plot: plot, unit: "/s")
        y += 58

        // Latency.
        let latencyRuns = report.runs.filter { $0.latencyMillis != nil }
        if !latencyRuns.isEmpty {
            body += title("Sample → commit latency, ms (linear scale)", y: y)
            y += 20
            body += legend(Self.percentiles.map { ($0.0, $0.1) }, y: y)
            y += 18
            let values = latencyRuns.compactMap(\.latencyMillis).flatMap { [$0.p50, $0.p99, $0.p999] }
            let latencyScale = Self.scale(values)
            func lx(_ value: Double) -> Double { Self.margin + plot * Self.fraction(value, of: latencyScale) }
            for run in latencyRuns {
                guard let l = run.latencyMillis else { continue }
                body += text(Self.fit(run.name, width: Self.width - 2 * Self.margin), x: Self.margin, y: y + 12)
                y += 16
                for ((label, color), value) in zip(Self.percentiles, [l.p50, l.p99, l.p999]) {
                    body += "<rect x=\"\(Self.margin)\" y=\"\(y + 2)\" width=\"\(max(1, lx(value) - Self.margin))\" height=\"14\" fill=\"\(color)\"/>\n"
                    body += text("\(label) \(Self.number(value)) ms", x: lx(value) + 6, y: y + 14)
                    y += 18
                }
                y += 8
            }
            body += axis(y: y, scale: latencyScale, plot: plot, unit: " ms")
            y += 40
        }
        body += text("\(report.date) · \(report.commit) · telemetry-bench", x: Self.margin, y: y, fill: "#666")
        let height = y + 14
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(Self.width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(Self.width)) \(Int(height))\" "
            + "font-family=\"DejaVu Sans, sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n" + body + "</svg>\n"
    }

    /// A bar's value and, for a pipeline run, its ratio to both baselines in words.
    private func valueText(_ value: Double, color: String) -> String {
        var text = "\(Report.format(value))/s"
        guard color == Self.runColor else { return text }
        var ratios: [String] = []
        if let copy = report.copyCeiling, copy > 0 { ratios.append("\(Self.ratio(value / copy)) raw COPY") }
        if let seed = report.seedPerSample, seed > 0 { ratios.append("\(Self.ratio(value / seed)) seed path") }
        if !ratios.isEmpty { text += " · " + ratios.joined(separator: " · ") }
        return text
    }

    /// The scale's top: a round number at or above the largest finite value (1 when there is none).
    static func scale(_ values: [Double]) -> Double {
        let largest = values.filter { $0.isFinite && $0 > 0 }.max() ?? 1
        let magnitude = pow(10, floor(log10(largest)))
        let step = [1.0, 2, 2.5, 5, 10].first { $0 * magnitude >= largest } ?? 10
        return step * magnitude
    }

    /// Where `value` falls on 0…`scale`, clamped to the plot.
    static func fraction(_ value: Double, of scale: Double) -> Double {
        guard value.isFinite, scale > 0 else { return 0 }
        return min(1, max(0, value / scale))
    }

    static func ratio(_ r: Double) -> String {
        guard r.isFinite else { return "?×" }
        return r >= 10 ? String(format: "%.0f×", r) : String(format: "%.2f×", r)
    }

    static func number(_ v: Double) -> String {
        guard v.isFinite else { return "?" }
        return v >= 100 ? String(format: "%.0f", v) : String(format: "%.1f", v)
    }

    /// `text` cut with an ellipsis to what fits in `width` (never in practice: labels are short).
    static func fit(_ text: String, width: Double) -> String {
        let room = Int(width / charWidth)
        return text.count <= room ? text : String(text.prefix(max(1, room - 1))) + "…"
    }

    private func title(_ s: String, y: Double) -> String {
        "<text x=\"\(Self.margin)\" y=\"\(y)\" font-size=\"14\" font-weight=\"bold\">\(escape(Self.fit(s, width: (Self.width - 2 * Self.margin) * 12 / 14)))</text>\n"
    }

    private func legend(_ entries: [(String, String)], y: Double) -> String {
        var x = Self.margin
        var out = ""
        for (label, color) in entries {
            out += "<rect x=\"\(x)\" y=\"\(y - 10)\" width=\"12\" height=\"12\" fill=\"\(color)\"/>\n"
            out += text(label, x: x + 16, y: y)
            x += 16 + Double(label.count) * Self.charWidth + 18
        }
        return out
    }

    private func axis(y: Double, scale: Double, plot: Double, unit: String) -> String {
        var out = "<line x1=\"\(Self.margin)\" y1=\"\(y)\" x2=\"\(Self.margin + plot)\" y2=\"\(y)\" stroke=\"#444\"/>\n"
        for step in 0...4 {
            let x = Self.margin + plot * Double(step) / 4
            let value = scale * Double(step) / 4
            out += "<line x1=\"\(x)\" y1=\"\(y)\" x2=\"\(x)\" y2=\"\(y + 4)\" stroke=\"#444\"/>\n"
            let label = step == 0 ? "0" : (unit == "/s" ? Report.format(value) : Self.number(value)) + (step == 4 ? unit : "")
            out += "<text x=\"\(x)\" y=\"\(y + 17)\" text-anchor=\"\(step == 0 ? "start" : "middle")\" fill=\"#444\">\(escape(label))</text>\n"
        }
        return out
    }

    private func text(_ s: String, x: Double, y: Double, fill: String = "#000") -> String {
        "<text x=\"\(x)\" y=\"\(y)\" fill=\"\(fill)\">\(escape(s))</text>\n"
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
