@testable import Processor
import TelemetryCore
import Testing

/// The roll-ups of a group, without PostgreSQL.
@Suite("Rollup")
struct RollupTests {
    static let minute: Int64 = 1_700_000_040 * 1_000_000  // a minute's start, in µs

    /// A resolved batch whose device `i` has id `100 + i` and metric `j` id `10 + j`.
    static func resolved(_ samples: [(device: Int, metric: Int, micros: Int64, value: Double)], devices: [String] = ["a", "b"],
                         metrics: [String] = ["t", "h"], alerts: [AlertRecord] = [], firstRow: Int = 0) -> StorageActor.Resolved {
        var batch = StorageBatch(id: "b", deviceNames: devices, metricNames: metrics,
                                 samples: samples.map { Sample(deviceIndex: UInt32($0.device), metricIndex: UInt16($0.metric), timestampMicros: $0.micros, value: $0.value) })
        batch.alerts = alerts
        return StorageActor.Resolved(batch: batch, devices: devices.indices.map { Int32(100 + $0) }, metrics: metrics.indices.map { Int32(10 + $0) },
                                     firstRow: firstRow)
    }

    @Test("minutes: count, sum, min and max per device, metric and minute, across batches, in key order")
    func minutes() {
        let m = Self.minute
        let first = Self.resolved([(1, 0, m, 5), (0, 0, m + 1, 1), (0, 0, m + 2, 3), (0, 0, m + 60_000_000, 7), (0, 1, m, 50)])
        let second = Self.resolved([(0, 0, m + 3, -2)], firstRow: 5)
        let rolled = Rollup.minutes([first, second], inserted: nil)
        #expect(rolled.map(\.key) == rolled.map(\.key).sorted())
        let keys = rolled.map { "\($0.key.device)/\($0.key.metric)/\($0.key.minute - m / 1_000_000)" }
        #expect(keys == ["100/10/0", "100/10/60", "100/11/0", "101/10/0"])
        let a = rolled[0].value
        #expect(a.count == 3 && a.sum == 2 && a.min == -2 && a.max == 3)
        #expect(rolled[1].value.count == 1 && rolled[1].value.sum == 7)
    }

    @Test("minutes: only inserted samples count; a minute with none is absent")
    func insertedOnly() {
        let m = Self.minute
        let batch = Self.resolved([(0, 0, m, 1), (0, 0, m + 1, 2), (1, 1, m, 9)])
        let rolled = Rollup.minutes([batch], inserted: [false, true, false])
        #expect(rolled.count == 1)
        #expect(rolled.first?.value.count == 1 && rolled.first?.value.sum == 2)
        #expect(Rollup.minutes([batch], inserted: [false, false, false]).isEmpty)
    }

    @Test("minutes: sums that would overflow a double are kept as finite parts; minutes before 1970 floor correctly")
    func extremes() {
        let m = Self.minute
        let rolled = Rollup.minutes([Self.resolved([(0, 0, m, 1.5e308), (0, 0, m + 1, 1.5e308), (0, 0, m + 2, -1e308)])], inserted: nil)
        let a = rolled[0].value
        #expect(a.count == 3 && a.parts.count == 1 && a.sum.isFinite && a.parts.allSatisfy(\.isFinite))
        #expect(a.max == 1.5e308 && a.min == -1e308)
        let old = Rollup.minutes([Self.resolved([(0, 0, -1, 4)])], inserted: nil)
        #expect(old.first?.key.minute == -60)
    }

    @Test("newest: the newest value per series by sample time (the first on a tie), devices in id order, metrics by name")
    func newest() {
        let m = Self.minute
        let first = Self.resolved([(1, 0, m + 5, 1), (0, 1, m, 2), (0, 0, m + 9, 3), (0, 0, m + 2, 4)])
        let second = Self.resolved([(0, 0, m + 9, 5), (0, 1, m + 1, 6)], firstRow: 4)
        let newest = Rollup.newest([first, second], inserted: nil)
        #expect(newest.map(\.device) == [100, 101])
        #expect(newest.map(\.name) == ["a", "b"])
        #expect(newest[0].metrics == [Rollup.Latest(metric: "h", metricID: 11, timestampMicros: m + 1, value: 6),
                                      Rollup.Latest(metric: "t", metricID: 10, timestampMicros: m + 9, value: 3)])
        #expect(newest[1].metrics == [Rollup.Latest(metric: "t", metricID: 10, timestampMicros: m + 5, value: 1)])
        // A re-sent sample (not inserted) does not move the latest value.
        let filtered = Rollup.newest([first, second], inserted: [true, true, false, true, false, true])
        #expect(filtered[0].metrics.first { $0.metric == "t" }?.value == 4)
    }

    @Test("alerts: only those of inserted samples, each with its batch's position")
    func alerts() {
        let m = Self.minute
        let fired = [AlertRecord(device: 0, metric: 0, timestampMicros: m, value: 99, rule: "high", severity: "critical"),
                     AlertRecord(device: 1, metric: 1, timestampMicros: m + 1, value: 98, rule: "high", severity: "warning")]
        let first = Self.resolved([(0, 0, m, 99), (1, 1, m + 1, 98)], alerts: fired)
        let second = Self.resolved([(0, 0, m, 99)], alerts: [fired[0]], firstRow: 2)
        #expect(Rollup.alerts([first, second], inserted: nil).map(\.position) == [0, 0, 1])
        let kept = Rollup.alerts([first, second], inserted: [false, true, false])
        #expect(kept.map(\.position) == [0] && kept.first?.alert == fired[1])
    }
}
