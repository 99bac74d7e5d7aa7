import TelemetryCore

/// Dense numbers 0, 1, 2, … for the series (device, metric) a batch's samples belong to, in order
/// of first appearance, so per-series work goes to arrays of the batch's series count (at most its
/// sample count) whatever the size of its name tables, and no name is hashed per sample.
///
/// Index pairs naming the same device and metric (a table that lists a name twice) are one series.
package struct BatchSeries: Sendable {
    /// The series number of each sample, in sample order.
    package private(set) var numbers: [Int32] = []
    /// Each series' device and metric, as indexes into the batch's tables (the first index of a
    /// name listed twice).
    package private(set) var devices: [UInt32] = []
    package private(set) var metrics: [UInt32] = []
    package var count: Int { devices.count }

    package init(samples: [Sample], deviceNames: [String], metricNames: [String]) {
        let device: [UInt32] = Self.firstIndexes(deviceNames)
        let metric: [UInt32] = Self.firstIndexes(metricNames)
        let metricCount = metricNames.count
        numbers.reserveCapacity(samples.count)
        let slots = deviceNames.count * metricCount
        if slots <= max(4 * samples.count, 4096) {
            // Small tables: a direct table of every pair.
            var table = [Int32](repeating: -1, count: slots)
            for sample in samples {
                let (d, m) = (device[Int(sample.deviceIndex)], metric[Int(sample.metricIndex)])
                let slot = Int(d) * metricCount + Int(m)
                if table[slot] < 0 { table[slot] = add(d, m) }
                numbers.append(table[slot])
            }
        } else {
            // Tables far larger than the batch (a producer naming a device per sample): a map of
            // the pairs that occur, so memory follows the samples, not the tables' product.
            var table: [UInt64: Int32] = [:]
            for sample in samples {
                let (d, m) = (device[Int(sample.deviceIndex)], metric[Int(sample.metricIndex)])
                let key = UInt64(d) << 32 | UInt64(m)
                if let number = table[key] {
                    numbers.append(number)
                } else {
                    let number = add(d, m)
                    table[key] = number
                    numbers.append(number)
                }
            }
        }
    }

    private mutating func add(_ device: UInt32, _ metric: UInt32) -> Int32 {
        devices.append(device)
        metrics.append(metric)
        return Int32(devices.count - 1)
    }

    /// For each entry of `names`, the index of its first occurrence.
    private static func firstIndexes<Index: FixedWidthInteger>(_ names: [String]) -> [Index] {
        var first: [String: Index] = [:]
        first.reserveCapacity(names.count)
        var indexes: [Index] = []
        indexes.reserveCapacity(names.count)
        for (index, name) in names.enumerated() {
            if let seen = first[name] {
                indexes.append(seen)
            } else {
                first[name] = Index(index)
                indexes.append(Index(index))
            }
        }
        return indexes
    }
}
