public import Prometheus
import Synchronization
public import TelemetryCore

/// Prometheus exposition of a service's counters. The services count with atomics on their hot
/// paths; at each scrape the exporter mirrors them into a `PrometheusCollectorRegistry`
/// (counters advance by the difference since the last scrape) and renders the text format.
public final class MetricsExporter: Sendable {
    /// The registry the counters and gauges are mirrored into; histograms are rendered after it.
    public let registry = PrometheusCollectorRegistry()
    private let counters = Mutex<[String: (Counter, Double)]>([:])
    private let gauges = Mutex<[String: Gauge]>([:])
    private let histograms = Mutex<[(name: String, help: String, histogram: BucketHistogram)]>([])

    /// An exporter with nothing registered yet.
    public init() {}

    /// Mirrors a monotonically growing count.
    public func counter(_ name: String, labels: [(String, String)] = [], help: String, value: Int) {
        mirror(name, labels: labels, help: help, value: Double(value)) { counter, delta in counter.increment(by: Int64(Swift.min(delta, 9e18))) }
    }

    /// Mirrors a monotonically growing amount that is not a whole number (CPU seconds).
    public func counter(_ name: String, labels: [(String, String)] = [], help: String, value: Double) {
        mirror(name, labels: labels, help: help, value: value) { counter, delta in counter.increment(by: delta) }
    }

    private func mirror(_ name: String, labels: [(String, String)], help: String, value: Double, add: (Counter, Double) -> Void) {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        counters.withLock { mirrors in
            let (counter, last) = mirrors[key] ?? (registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels), 0)
            if value > last { add(counter, value - last) }
            mirrors[key] = (counter, max(last, value))
        }
    }

    /// Sets a current value.
    public func gauge(_ name: String, labels: [(String, String)] = [], help: String, value: Double) {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        let gauge = gauges.withLock { gauges in
            if let existing = gauges[key] { return existing }
            let made = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
            gauges[key] = made
            return made
        }
        gauge.set(value)
    }

    /// Exposes a histogram the service fills itself (once per name).
    public func histogram(_ name: String, help: String, _ histogram: BucketHistogram) {
        histograms.withLock { list in
            if !list.contains(where: { $0.name == name }) { list.append((name, help, histogram)) }
        }
    }

    /// The Prometheus text format of everything registered.
    public func render() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        for (name, help, histogram) in histograms.withLock({ $0 }) {
            buffer.append(contentsOf: Self.text(name: name, help: help, histogram).utf8)
        }
        return buffer
    }

    /// A histogram in the text exposition format: cumulative `_bucket{le}`, `_sum`, `_count`.
    static func text(name: String, help: String, _ histogram: BucketHistogram) -> String {
        let snapshot = histogram.snapshot
        var text = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        var cumulative = 0
        for (i, bound) in histogram.bounds.enumerated() {
            cumulative += snapshot.counts[i]
            text += "\(name)_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        text += "\(name)_bucket{le=\"+Inf\"} \(snapshot.count)\n\(name)_sum \(snapshot.sum)\n\(name)_count \(snapshot.count)\n"
        return text
    }
}
