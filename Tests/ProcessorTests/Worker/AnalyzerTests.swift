import Processor
import TelemetryCore
import Testing

@Suite("Analyzer")
struct AnalyzerTests {
    let thresholds = ["temperature": ThresholdRule(metric: "temperature", low: -20, high: 60, severity: "critical")]

    func samples(_ values: [Double], start: Int64 = 0) -> [Sample] {
        values.enumerated().map { Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: start + Int64($0.offset), value: $0.element) }
    }

    @Test("a threshold alert fires once when a series enters a breach, again after it left")
    func thresholdOncePerFiring() {
        var analyzer = Analyzer(thresholds: thresholds, zScore: 4, minSamples: 30)
        let result = analyzer.analyze(samples([20, 70, 75, 80, 20, 65]), devices: ["d"], metrics: ["temperature"], plan: AnalysisPlan(kind: .alert))
        #expect(result.alerts.map(\.value) == [70, 65])
        #expect(result.alerts.allSatisfy { $0.rule == "threshold_high" && $0.severity == "critical" })
        analyzer.commit(result)
        // The breach state carries over to the next batch: still in breach, no new alert.
        let next = analyzer.analyze(samples([66], start: 10), devices: ["d"], metrics: ["temperature"], plan: AnalysisPlan(kind: .alert))
        #expect(next.alerts.isEmpty)
    }

    @Test("state changes only on commit, so a retried batch fires the same alerts")
    func tentative() {
        let analyzer = Analyzer(thresholds: thresholds, zScore: 4, minSamples: 30)
        let first = analyzer.analyze(samples([70]), devices: ["d"], metrics: ["temperature"], plan: AnalysisPlan(kind: .alert))
        let retry = analyzer.analyze(samples([70]), devices: ["d"], metrics: ["temperature"], plan: AnalysisPlan(kind: .alert))
        #expect(first.alerts == retry.alerts)
        #expect(first.alerts.count == 1)
    }

    @Test("z-score flags a spike after the warm-up, per device")
    func zscore() {
        var analyzer = Analyzer(thresholds: [:], zScore: 4, minSamples: 30)
        let calm = (0..<100).map { 20 + Double($0 % 5) * 0.1 }
        analyzer.commit(analyzer.analyze(samples(calm), devices: ["d"], metrics: ["temperature"], plan: AnalysisPlan(kind: .anomalyDetect)))
        let spike = analyzer.analyze(samples([20.1, 35, 20.2], start: 1000), devices: ["d"], metrics: ["temperature"], plan: AnalysisPlan(kind: .anomalyDetect))
        #expect(spike.alerts.map(\.value) == [35])
        #expect(spike.alerts.first?.rule == "zscore")
        // Another device has no history yet: no anomaly.
        let other = analyzer.analyze(samples([35]), devices: ["e"], metrics: ["temperature"], plan: AnalysisPlan(kind: .anomalyDetect))
        #expect(other.alerts.isEmpty)
    }

    @Test("statistics are Welford's: count, mean, standard deviation, min, max")
    func statistics() {
        let analyzer = Analyzer(thresholds: [:], zScore: 4, minSamples: 30)
        let result = analyzer.analyze(samples([2, 4, 4, 4, 5, 5, 7, 9]), devices: ["d"], metrics: ["temperature"], plan: AnalysisPlan(kind: .analyze))
        let s = result.statistics["temperature"]!
        #expect(s.count == 8 && s.mean == 5 && s.standardDeviation == 2 && s.min == 2 && s.max == 9)
    }

    @Test("statistics of two series merged equal the statistics of all their values")
    func statisticsMerge() {
        var a = SeriesStatistics(), b = SeriesStatistics()
        for x in [2.0, 4, 4, 4] { a.add(x) }
        for x in [5.0, 5, 7, 9] { b.add(x) }
        a.merge(b)
        a.merge(SeriesStatistics())
        #expect(a.count == 8 && abs(a.mean - 5) < 1e-12 && abs(a.standardDeviation - 2) < 1e-12 && a.min == 2 && a.max == 9)
    }

    @Test("series of one batch keep their own state, per device and per metric")
    func seriesOfOneBatch() {
        var analyzer = Analyzer(thresholds: ["temperature": ThresholdRule(metric: "temperature", low: nil, high: 60, severity: "critical")], zScore: 4, minSamples: 30)
        // Interleaved as a hub batch is: d/temperature, e/temperature, d/humidity, …
        var batch: [Sample] = []
        for i in 0..<4 {
            batch.append(Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: Int64(i), value: i == 1 ? 70 : 20))
            batch.append(Sample(deviceIndex: 1, metricIndex: 0, timestampMicros: Int64(i), value: i >= 2 ? 70 : 20))
            batch.append(Sample(deviceIndex: 0, metricIndex: 1, timestampMicros: Int64(i), value: 90))
        }
        let result = analyzer.analyze(batch, devices: ["d", "e"], metrics: ["temperature", "humidity"], plan: AnalysisPlan(kind: .alert))
        // d breaches at 1, e at 2 and stays in breach; humidity has no rule.
        #expect(result.alerts.map { "\($0.device)@\($0.timestampMicros)" } == ["0@1", "1@2"])
        analyzer.commit(result)
        #expect(analyzer.series[Analyzer.SeriesKey(device: "e", metric: "temperature")]?.breachHigh == true)
        #expect(analyzer.series[Analyzer.SeriesKey(device: "d", metric: "temperature")]?.breachHigh == false)
        #expect(analyzer.series[Analyzer.SeriesKey(device: "d", metric: "humidity")] != nil)
    }

    @Test("one device name in two tenants is two series: one tenant's breach does not silence the other's")
    func tenantsKeepTheirOwnState() {
        var analyzer = Analyzer(thresholds: ["temperature": ThresholdRule(metric: "temperature", low: nil, high: 60, severity: "critical")], zScore: 4, minSamples: 30)
        let hot = [Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: 1, value: 70)]
        let first = analyzer.analyze(hot, tenant: "a", devices: ["pump"], metrics: ["temperature"], plan: AnalysisPlan(kind: .alert))
        #expect(first.alerts.count == 1)
        analyzer.commit(first)
        // The same name in tenant b and in the default tenant enters its own breach: alerts of its own.
        for tenant in ["b", nil] as [String?] {
            let result = analyzer.analyze(hot, tenant: tenant, devices: ["pump"], metrics: ["temperature"], plan: AnalysisPlan(kind: .alert))
            #expect(result.alerts.count == 1, "\(tenant ?? "default")")
            analyzer.commit(result)
        }
        #expect(analyzer.series[Analyzer.SeriesKey(tenant: "a", device: "pump", metric: "temperature")]?.breachHigh == true)
        #expect(analyzer.series.count == 3)
    }

    @Test("a device listed twice in a batch's table is one series: its breach fires once")
    func duplicateNames() {
        let analyzer = Analyzer(thresholds: ["temperature": ThresholdRule(metric: "temperature", low: nil, high: 60, severity: "critical")], zScore: 4, minSamples: 30)
        let batch = [Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: 1, value: 70),
                     Sample(deviceIndex: 1, metricIndex: 0, timestampMicros: 2, value: 71)]
        let result = analyzer.analyze(batch, devices: ["d", "d"], metrics: ["temperature"], plan: AnalysisPlan(kind: .alert))
        #expect(result.alerts.count == 1)
    }

    @Test("store and aggregate run no analysis")
    func plans() {
        #expect(AnalysisPlan(kind: .store) == AnalysisPlan(statistics: false, anomalies: false, thresholds: false))
        #expect(AnalysisPlan(kind: .aggregate) == AnalysisPlan(statistics: false, anomalies: false, thresholds: false))
        #expect(AnalysisPlan(kind: .analyze) == AnalysisPlan(statistics: true, anomalies: true, thresholds: true))
    }
}
