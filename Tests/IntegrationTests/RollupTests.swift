import Foundation
import Redis
import TelemetryCore
import Testing

/// aggregates_1m, aggregates_1h and aggregates_1d against a recount from `samples`.
@Suite("Rollups (real Redis and PostgreSQL)", .serialized)
struct RollupTests {
    /// Rows of `table` that differ from a recount of `samples` into `width` buckets, and the
    /// number of buckets the recount has.
    static func mismatches(_ db: TestDatabase, table: String, width: String) throws -> (Int, Int) {
        let recount = """
            SELECT device_id, metric_id, date_bin('\(width)', ts, timestamptz 'epoch') AS bucket,
                   count(*) AS c, sum(value::numeric) AS s, min(value) AS lo, max(value) AS hi
            FROM samples GROUP BY 1, 2, 3
            """
        let wrong = try db.scalar("""
            SELECT count(*) FROM (\(recount)) r FULL JOIN \(table) a USING (device_id, metric_id, bucket)
            WHERE r.c IS NULL OR a.count IS NULL OR r.c <> a.count OR r.lo <> a.min OR r.hi <> a.max
               OR abs(r.s - a.sum) > 1e-9 * greatest(abs(r.s), 1)
            """)
        return (wrong, try db.scalar("SELECT count(*) FROM (\(recount)) r"))
    }

    @Test("each rollup equals a recount from samples, with 10 % of the readings two days late and a batch delivered twice")
    func lateData() async throws {
        let deployment = try Deployment()
        let redis = try TestServers.redis()
        let db = deployment.database
        let processor = try Daemon("telemetry-processor", name: "rollup-processor", environment: deployment.processorEnvironment())
        let now = wallClockMicros()
        let devices = (0..<5).map { "\(deployment.prefix)_d\($0)" }
        var generator = SplitMix64(seed: 17)
        func batch(_ n: Int, late: Bool) -> [Sample] {
            (0..<n).map { i in
                // On time: the last three hours (across hour buckets); late: two days back, over a
                // day boundary's worth of hours.
                let age = late ? 2 * 86_400_000_000 + Int64(generator.next() % 30_000_000_000) : Int64(generator.next() % 10_800_000_000)
                let value = (Double(generator.next() % 2_000_001) - 1_000_000) / 7
                return Sample(deviceIndex: 0, metricIndex: UInt16(i % 2), timestampMicros: now - age - Int64(i), value: value)
            }
        }
        var expected = 0
        var lateBatches: [(String, String, [Sample])] = []
        for (n, device) in devices.enumerated() {
            for k in 0..<4 {
                let samples = batch(45, late: false)
                try DefectDrillTests.xadd(redis, prefix: deployment.prefix, id: "on-time-\(n)-\(k)", devices: [device], metrics: ["flow", "level"], samples: samples)
                expected += samples.count
            }
            lateBatches.append(("late-\(n)", device, batch(20, late: true)))
        }
        try await db.expectStoredOnce(expected, "\(processor.tail)")
        // The late tenth arrives after the on-time data is rolled up, and one batch twice.
        for (id, device, samples) in lateBatches {
            try DefectDrillTests.xadd(redis, prefix: deployment.prefix, id: id, devices: [device], metrics: ["flow", "level"], samples: samples)
            expected += samples.count
        }
        let (id, device, samples) = lateBatches[0]
        try DefectDrillTests.xadd(redis, prefix: deployment.prefix, id: id, devices: [device], metrics: ["flow", "level"], samples: samples)
        try await db.expectStoredOnce(expected, "\(processor.tail)")
        #expect(try await eventually(timeout: .seconds(10)) { try deployment.pendingEntries() == 0 })

        for (table, width) in [("aggregates_1m", "1 minute"), ("aggregates_1h", "1 hour"), ("aggregates_1d", "1 day")] {
            let (wrong, buckets) = try Self.mismatches(db, table: table, width: width)
            #expect(wrong == 0 && buckets > 0, "\(table): \(wrong) of \(buckets) buckets differ from a recount")
        }
        #expect(try db.scalar("SELECT count(DISTINCT bucket) FROM aggregates_1d") >= 2, "the late readings have days of their own")
        #expect(try db.scalar("SELECT sum(count) FROM aggregates_1h") == expected)
        #expect(await processor.stop() == 0)
        print("rollups: \(expected) samples (\(lateBatches.count * 20) two days late, one batch twice) equal their recount in 1m, 1h and 1d")
    }
}
