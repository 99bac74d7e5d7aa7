import TelemetryCore

/// What a group's transaction derives from its samples, computed without PostgreSQL (tested in
/// `RollupTests`): the per-minute aggregates, the newest value of each series and the alerts of
/// inserted samples. Every list comes in key order, so two processors writing overlapping keys
/// lock their rows in the same order and cannot deadlock.
///
/// `inserted` (per row of the group, in order) is nil when every sample went in (the COPY fast
/// path); otherwise only inserted samples count: a re-sent sample must not be counted or fire twice.
enum Rollup {
    /// One (device, metric, minute) of the samples being written.
    struct MinuteKey: Hashable, Comparable {
        var device: Int32
        var metric: Int32
        /// Epoch seconds of the minute's start.
        var minute: Int64

        static func < (a: Self, b: Self) -> Bool { (a.device, a.metric, a.minute) < (b.device, b.metric, b.minute) }
    }

    /// Count, sum, min and max of one minute of one series. The sum is kept as finite partial
    /// sums: when adding a value would overflow a double (two valid values near 1.5e308), a new
    /// part starts; PostgreSQL adds the parts in `numeric`, which cannot overflow.
    struct Aggregate: Equatable {
        var minute: Int64 = 0
        var count = 0
        var sum = 0.0
        /// Finished partial sums, besides ``sum``.
        var parts: [Double] = []
        var min = Double.infinity
        var max = -Double.infinity

        mutating func add(_ x: Double) {
            count += 1
            addToSum(x)
            min = Swift.min(min, x)
            max = Swift.max(max, x)
        }

        private mutating func addToSum(_ x: Double) {
            let total = sum + x
            if total.isFinite {
                sum = total
            } else {
                parts.append(sum)
                sum = x
            }
        }

        mutating func merge(_ other: Aggregate) {
            count += other.count
            parts += other.parts
            addToSum(other.sum)
            min = Swift.min(min, other.min)
            max = Swift.max(max, other.max)
        }
    }

    /// The group's samples rolled up per device, metric and minute, in key order.
    static func minutes(_ group: [StorageActor.Resolved], inserted: [Bool]?) -> [(key: MinuteKey, value: Aggregate)] {
        var aggregates: [MinuteKey: Aggregate] = [:]
        for r in group {
            // Per series of the batch first, an array slot each (``BatchSeries``): the group's
            // dictionary is touched once per series and minute, not once per sample.
            let series = r.batch.series
            var open = [Aggregate?](repeating: nil, count: series.count)
            func close(_ n: Int, _ a: Aggregate) {
                let key = MinuteKey(device: r.devices[Int(series.devices[n])], metric: r.metrics[Int(series.metrics[n])], minute: a.minute)
                aggregates[key, default: Aggregate(minute: a.minute)].merge(a)
            }
            for (offset, sample) in r.batch.samples.enumerated() where inserted?[r.firstRow + offset] ?? true {
                let minute = Timestamp.minuteStartSeconds(micros: sample.timestampMicros)
                let n = Int(series.numbers[offset])
                if let current = open[n], current.minute != minute { close(n, current); open[n] = nil }
                if open[n] == nil { open[n] = Aggregate(minute: minute) }
                open[n]!.add(sample.value)
            }
            for (n, a) in open.enumerated() { if let a { close(n, a) } }
        }
        return aggregates.sorted { $0.key < $1.key }
    }

    /// The newest value of one metric of a device: by sample time; on a tie, the first in the group.
    struct Latest: Equatable {
        var metric: String
        var metricID: Int32
        var timestampMicros: Int64
        var value: Double
    }

    /// The newest value of each (device, metric) of the group, devices in id order (with their
    /// names, for the cache), metrics by name.
    static func newest(_ group: [StorageActor.Resolved], inserted: [Bool]?) -> [(device: Int32, tenant: String?, name: String, metrics: [Latest])] {
        struct Key: Hashable {
            var device: Int32
            var metric: Int32
        }
        var newest: [Key: (ts: Int64, value: Double)] = [:]
        var deviceNames: [Int32: (tenant: String?, name: String)] = [:]
        var metricNames: [Int32: String] = [:]
        for r in group {
            // Per batch by local indexes first (cheap), then merged by id.
            let series = r.batch.series
            var local = [(ts: Int64, value: Double)?](repeating: nil, count: series.count)
            for (offset, sample) in r.batch.samples.enumerated() where inserted?[r.firstRow + offset] ?? true {
                let n = Int(series.numbers[offset])
                if let current = local[n], current.ts >= sample.timestampMicros { continue }
                local[n] = (sample.timestampMicros, sample.value)
            }
            for (n, entry) in local.enumerated() {
                guard let entry else { continue }
                let d = Int(series.devices[n]), m = Int(series.metrics[n])
                let key = Key(device: r.devices[d], metric: r.metrics[m])
                deviceNames[key.device] = (r.batch.tenant, r.batch.deviceNames[d])
                metricNames[key.metric] = r.batch.metricNames[m]
                if let current = newest[key], current.ts >= entry.ts { continue }
                newest[key] = entry
            }
        }
        var perDevice: [Int32: [Latest]] = [:]
        for (key, entry) in newest {
            perDevice[key.device, default: []].append(Latest(metric: metricNames[key.metric]!, metricID: key.metric,
                                                             timestampMicros: entry.ts, value: entry.value))
        }
        return perDevice.sorted { $0.key < $1.key }.map {
            (device: $0.key, tenant: deviceNames[$0.key]!.tenant, name: deviceNames[$0.key]!.name, metrics: $0.value.sorted { $0.metric < $1.metric })
        }
    }

    /// The alerts of the group's inserted samples, each with the position of its batch in the group.
    static func alerts(_ group: [StorageActor.Resolved], inserted: [Bool]?) -> [(position: Int, alert: AlertRecord)] {
        struct SampleKey: Hashable {
            var device: Int
            var metric: Int
            var ts: Int64
        }
        var out: [(position: Int, alert: AlertRecord)] = []
        for (position, r) in group.enumerated() {
            var alerts = r.batch.alerts
            if let inserted {
                var insertedKeys = Set<SampleKey>()
                for (offset, sample) in r.batch.samples.enumerated() where inserted[r.firstRow + offset] {
                    insertedKeys.insert(SampleKey(device: Int(sample.deviceIndex), metric: Int(sample.metricIndex), ts: sample.timestampMicros))
                }
                alerts.removeAll { !insertedKeys.contains(SampleKey(device: $0.device, metric: $0.metric, ts: $0.timestampMicros)) }
            }
            out += alerts.map { (position, $0) }
        }
        return out
    }
}
