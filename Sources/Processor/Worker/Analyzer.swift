import TelemetryCore

/// What analysis a task type asks for on top of storing its samples.
package struct AnalysisPlan: Sendable, Equatable {
    package var statistics: Bool
    package var anomalies: Bool
    package var thresholds: Bool

    /// Hub batches and `telemetry.analyze` run the full chain; `anomaly_detect` detection and
    /// alerts; `alert` the threshold rules only; `aggregate` and `store` nothing more.
    package init(kind: TelemetryTask.Kind) {
        switch kind {
        case .analyze: self.init(statistics: true, anomalies: true, thresholds: true)
        case .anomalyDetect: self.init(statistics: false, anomalies: true, thresholds: true)
        case .alert: self.init(statistics: false, anomalies: false, thresholds: true)
        case .aggregate, .store: self.init(statistics: false, anomalies: false, thresholds: false)
        }
    }

    package init(statistics: Bool, anomalies: Bool, thresholds: Bool) {
        self.statistics = statistics
        self.anomalies = anomalies
        self.thresholds = thresholds
    }
}

/// The analysis rules a SIGHUP reload can change: thresholds and the z-score detector.
package struct AnalysisSettings: Sendable, Equatable {
    package var thresholds: [String: ThresholdRule]
    package var zScore: Double
    package var minSamples: Int

    package init(thresholds: [String: ThresholdRule], zScore: Double, minSamples: Int) {
        self.thresholds = thresholds
        self.zScore = zScore
        self.minSamples = minSamples
    }
}

/// Running statistics of a series of values (Welford).
package struct SeriesStatistics: Sendable, Equatable {
    package var count = 0
    package var mean = 0.0
    var m2 = 0.0
    package var min = Double.infinity
    package var max = -Double.infinity
    /// Population standard deviation.
    package var standardDeviation: Double { count > 0 ? (m2 / Double(count)).squareRoot() : 0 }

    package init() {}

    /// Folds in another accumulator (Chan et al.'s parallel Welford merge).
    package mutating func merge(_ other: SeriesStatistics) {
        guard other.count > 0 else { return }
        let n = count + other.count
        let delta = other.mean - mean
        m2 += other.m2 + delta * delta * Double(count) * Double(other.count) / Double(n)
        mean += delta * Double(other.count) / Double(n)
        count = n
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
    }

    /// Welford's update.
    package mutating func add(_ x: Double) {
        count += 1
        let delta = x - mean
        mean += delta / Double(count)
        m2 += delta * (x - mean)
        min = Swift.min(min, x)
        max = Swift.max(max, x)
    }
}

/// Rolling per-(device, metric) state: Welford statistics for the z-score and the breach state of
/// each rule, so an alert fires once when a series enters a breach, not for every sample in it.
package struct SeriesState: Sendable, Equatable {
    package var rolling = SeriesStatistics()
    package var inAnomaly = false
    package var breachLow = false
    package var breachHigh = false
    package init() {}
}

/// The analysis chain of one worker. Its state belongs to the worker that owns the devices
/// (work is routed by device), and is changed only through ``commit(_:)`` once the batch's
/// transaction committed, so a batch retried after a failed write does not fire twice.
package struct Analyzer: Sendable {
    /// One series: a device of a tenant (nil: the default tenant; one name in two tenants is two
    /// devices, with their own breach state and baseline) and a metric.
    package struct SeriesKey: Hashable, Sendable {
        package var tenant: String?
        package var device: String
        package var metric: String
        package init(tenant: String? = nil, device: String, metric: String) {
            self.tenant = tenant
            self.device = device
            self.metric = metric
        }
    }

    /// Tentative result of analysing one batch.
    package struct Result: Sendable {
        package var alerts: [AlertRecord] = []
        /// Statistics of the batch's values per metric name.
        package var statistics: [String: SeriesStatistics] = [:]
        var updates: [SeriesKey: SeriesState] = [:]
    }

    package private(set) var thresholds: [String: ThresholdRule]
    package private(set) var zScore: Double
    package private(set) var minSamples: Int
    package private(set) var series: [SeriesKey: SeriesState] = [:]

    package init(thresholds: [String: ThresholdRule], zScore: Double, minSamples: Int) {
        self.thresholds = thresholds
        self.zScore = zScore
        self.minSamples = minSamples
    }

    package init(settings: AnalysisSettings) {
        self.init(thresholds: settings.thresholds, zScore: settings.zScore, minSamples: settings.minSamples)
    }

    /// Takes reloaded rules; the series' state (baselines, breaches) is kept.
    package mutating func apply(_ settings: AnalysisSettings) {
        thresholds = settings.thresholds
        zScore = settings.zScore
        minSamples = settings.minSamples
    }

    /// Analyses `samples` (in time order per series) without changing the analyzer's state.
    ///
    /// Samples are addressed by their series' number in the batch (``BatchSeries``; pass the
    /// batch's own when it has one): each series is looked up by name once, not once per sample.
    package func analyze(_ samples: [Sample], tenant: String? = nil, devices: [String], metrics: [String], plan: AnalysisPlan,
                        series batchSeries: BatchSeries? = nil) -> Result {
        var result = Result()
        if plan.statistics {
            var perMetric = [SeriesStatistics](repeating: SeriesStatistics(), count: metrics.count)
            for sample in samples { perMetric[Int(sample.metricIndex)].add(sample.value) }
            for (index, statistics) in perMetric.enumerated() where statistics.count > 0 {
                result.statistics[metrics[index], default: SeriesStatistics()].merge(statistics)
            }
        }
        guard plan.anomalies || plan.thresholds else { return result }
        let rules = metrics.map { plan.thresholds ? thresholds[$0] : nil }
        // The batch's series by number: each looked up by name once, not once per sample.
        let batchSeries = batchSeries ?? BatchSeries(samples: samples, deviceNames: devices, metricNames: metrics)
        var keys: [SeriesKey] = []
        var states: [SeriesState] = []
        keys.reserveCapacity(batchSeries.count)
        states.reserveCapacity(batchSeries.count)
        for n in 0..<batchSeries.count {
            let key = SeriesKey(tenant: tenant, device: devices[Int(batchSeries.devices[n])], metric: metrics[Int(batchSeries.metrics[n])])
            keys.append(key)
            states.append(series[key] ?? SeriesState())
        }
        for (offset, sample) in samples.enumerated() {
            let at = Int(batchSeries.numbers[offset])
            let x = sample.value
            var state = states[at]
            func fire(_ rule: String, _ severity: String) {
                result.alerts.append(AlertRecord(device: Int(sample.deviceIndex), metric: Int(sample.metricIndex),
                                                 timestampMicros: sample.timestampMicros, value: x, rule: rule, severity: severity))
            }
            if let rule = rules[Int(sample.metricIndex)] {
                let low = rule.low.map { x < $0 } ?? false
                let high = rule.high.map { x > $0 } ?? false
                if low && !state.breachLow { fire("threshold_low", rule.severity) }
                if high && !state.breachHigh { fire("threshold_high", rule.severity) }
                state.breachLow = low
                state.breachHigh = high
            }
            if plan.anomalies {
                let rolling = state.rolling
                var anomalous = false
                if rolling.count >= minSamples {
                    let sd = rolling.standardDeviation
                    anomalous = sd > 0 ? abs(x - rolling.mean) / sd > zScore : x != rolling.mean
                }
                if anomalous && !state.inAnomaly { fire("zscore", "warning") }
                state.inAnomaly = anomalous
                // Anomalies are kept out of the baseline so one spike does not widen it.
                if !anomalous { state.rolling.add(x) }
            }
            states[at] = state
        }
        result.updates = Dictionary(uniqueKeysWithValues: zip(keys, states))
        return result
    }

    /// Makes a committed batch's state changes permanent.
    package mutating func commit(_ result: Result) {
        for (key, state) in result.updates { series[key] = state }
    }
}
