import Processor
import TelemetryCore
import Testing

@Suite("BatchSeries")
struct BatchSeriesTests {
    static func sample(_ device: UInt32, _ metric: UInt16) -> Sample {
        Sample(deviceIndex: device, metricIndex: metric, timestampMicros: 0, value: 0)
    }

    @Test("series are numbered in order of first appearance; a name listed twice is one series")
    func numbering() {
        let samples = [Self.sample(1, 0), Self.sample(0, 1), Self.sample(1, 0), Self.sample(2, 0), Self.sample(0, 1), Self.sample(1, 1)]
        // Devices 0 and 2 are both "a".
        let series = BatchSeries(samples: samples, deviceNames: ["a", "b", "a"], metricNames: ["t", "h"])
        #expect(series.numbers == [0, 1, 0, 2, 1, 3])
        #expect(series.count == 4)
        #expect(series.devices == [1, 0, 0, 1] && series.metrics == [0, 1, 0, 1])
    }

    @Test("tables far larger than the batch (a device and a metric per sample) cost what the samples do")
    func sparseTables() {
        let n = 20_000
        let samples = (0..<n).map { Self.sample(UInt32($0), UInt16($0 % 60_000)) }
        // 20 000 × 20 000 pairs: a direct table would be 400 M slots.
        let series = BatchSeries(samples: samples, deviceNames: (0..<n).map { "d\($0)" }, metricNames: (0..<n).map { "m\($0)" })
        #expect(series.count == n)
        #expect(series.numbers == (0..<n).map { Int32($0) })
        let again = BatchSeries(samples: samples + samples, deviceNames: (0..<n).map { "d\($0)" }, metricNames: (0..<n).map { "m\($0)" })
        #expect(again.count == n && Array(again.numbers[n...]) == (0..<n).map { Int32($0) })
    }
}

@Suite("BatchSeries, wide tables")
struct BatchSeriesWideTests {
    @Test("tables of more than 65 536 names are numbered without trapping")
    func wideTables() {
        let names = (0..<70_000).map { "m\($0)" }
        let samples = [Sample(deviceIndex: 0, metricIndex: 65_535, timestampMicros: 0, value: 1)]
        let series = BatchSeries(samples: samples, deviceNames: ["d"], metricNames: names)
        #expect(series.count == 1 && series.metrics == [65_535])
    }
}
