import Foundation
import Hub
import Logging
import Postgres
import Processor
import TelemetryCore
import Testing

/// Issue 14's storage defects against a real PostgreSQL: each test failed on the code before.
@Suite("Storage defects (real PostgreSQL)")
struct DefectStorageTests {
    static func batch(_ id: String, _ namespace: StorageBatch.Namespace = .hub, digest: Int64 = 1, metric: String = "temperature",
                      at micros: Int64, values: [Double]) -> StorageBatch {
        StorageBatch(id: id, namespace: namespace, digest: digest, deviceNames: ["dev"], metricNames: [metric],
                     samples: values.enumerated().map { Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: micros + Int64($0.offset), value: $0.element) })
    }

    @Test("a task id and a hub batch id that are equal are two inputs; an id reused with other content is reported, a redelivery is not")
    func namespacesAndReusedIDs() async throws {
        let db = try TestDatabase.create()
        let storage = StorageActor(conninfo: db.conninfo, logger: Logger(label: "test"))
        try await storage.prepare()
        let t = wallClockMicros()
        let hub = try await storage.write(Self.batch("h1-7", .hub, digest: 11, at: t, values: [1, 2]))
        let task = try await storage.write(Self.batch("h1-7", .task, digest: 22, at: t + 1000, values: [3]))
        #expect(!hub.duplicateBatch && hub.inserted == 2)
        #expect(!task.duplicateBatch && task.inserted == 1, "a task named like a hub batch was swallowed")
        let redelivered = try await storage.write(Self.batch("h1-7", .task, digest: 22, at: t + 1000, values: [3]))
        #expect(redelivered.duplicateBatch && !redelivered.reusedID)
        let reused = try await storage.write(Self.batch("h1-7", .task, digest: 33, at: t + 2000, values: [4]))
        #expect(reused.reusedID, "a reused id with other content must be told, not dropped silently")
        #expect(try db.scalar("SELECT count(*) FROM samples") == 3)
        // Two batches under one key in one group: the second is judged against the first.
        let group = try await storage.write([Self.batch("g", .task, digest: 1, at: t + 5000, values: [5]),
                                             Self.batch("g", .task, digest: 2, at: t + 6000, values: [6])])
        #expect(!group[0].duplicateBatch && group[1].reusedID)
    }

    @Test("two valid values near 1.5e308 in one device, metric and minute are both stored; the sum does not overflow")
    func sumOverflow() async throws {
        let db = try TestDatabase.create()
        let storage = StorageActor(conninfo: db.conninfo, logger: Logger(label: "test"))
        try await storage.prepare()
        let minute = (wallClockMicros() / 60_000_000) * 60_000_000
        // Within one batch (partial sums) and across batches (numeric in PostgreSQL).
        let one = try await storage.write(Self.batch("a", at: minute, values: [1.5e308, 1.5e308, -1e308]))
        let two = try await storage.write(Self.batch("b", at: minute + 10, values: [1.7e308]))
        #expect(one.inserted == 3 && two.inserted == 1)
        let pg = try db.connect()
        let row = try pg.execute("SELECT count, sum::text, max FROM aggregates_1m").rows
        #expect(row.count == 1)
        #expect(row.first?[0] == "4")
        let sum = try pg.execute("SELECT (sum = 3.7e308::numeric)::text FROM aggregates_1m").rows.first?[0]
        #expect(sum == "true", "sum was \(row.first?[1] ?? "nil")")
    }

    @Test("metric names are capped by validation.max_metric_names; names over it are refused, the rest of the batch stored; no id is burned")
    func metricNameLimit() async throws {
        let db = try TestDatabase.create()
        let storage = StorageActor(conninfo: db.conninfo, logger: Logger(label: "test"), maxMetricNames: 5)  // 3 seeded + 2
        try await storage.prepare()
        let t = wallClockMicros()
        let names = ["temperature", "m_a", "m_b", "m_c", "m_d"]
        let batch = StorageBatch(id: "x", deviceNames: ["dev"], metricNames: names,
                                 samples: names.indices.map { Sample(deviceIndex: 0, metricIndex: UInt16($0), timestampMicros: t, value: 1) })
        let outcome = try await storage.write(batch)
        #expect(outcome.inserted == 3)
        #expect(outcome.overCardinality.count == 2)
        #expect(outcome.refusedNames == ["m_c", "m_d"])
        #expect(try db.scalar("SELECT count(*) FROM metrics") == 5)
        // Restarts (fresh actors, empty caches) resolving the same names burn no identity value.
        for round in 0..<3 {
            let again = StorageActor(conninfo: db.conninfo, logger: Logger(label: "test"), maxMetricNames: 5)
            _ = try await again.write(StorageBatch(id: "r\(round)", deviceNames: ["dev"], metricNames: ["temperature", "m_a"],
                                                   samples: [Sample(deviceIndex: 0, metricIndex: 1, timestampMicros: t + 1 + Int64(round), value: 2)]))
        }
        #expect(try db.scalar("SELECT max(id) FROM metrics") == 5)
        #expect(try db.scalar("SELECT (SELECT last_value FROM metrics_id_seq) ") <= 5)
        // Metric ids are integers now: an id past smallint's range is stored.
        try db.connect().execute("SELECT setval('metrics_id_seq', 40000)")
        let wide = StorageActor(conninfo: db.conninfo, logger: Logger(label: "test"), maxMetricNames: 10)
        let stored = try await wide.write(Self.batch("w", metric: "m_wide", at: t + 100, values: [7]))
        #expect(stored.inserted == 1)
        #expect(try db.scalar("SELECT metric_id FROM samples s JOIN metrics m ON m.id = s.metric_id WHERE m.name = 'm_wide'") == 40001)
    }

    @Test("two processors upserting the same aggregate and latest rows at once never deadlock (rows locked in key order)")
    func noDeadlock() async throws {
        let db = try TestDatabase.create()
        let first = StorageActor(conninfo: db.conninfo, logger: Logger(label: "test"), name: "a")
        let second = StorageActor(conninfo: db.conninfo, logger: Logger(label: "test"), name: "b")
        try await first.prepare()
        // Every row upserted sleeps a little, so the two transactions overlap for certain: in
        // any order but the same one, each would hold a row the other waits for.
        try db.connect().execute("""
            CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.005); RETURN NEW; END $$;
            CREATE TRIGGER slow BEFORE INSERT ON latest_values FOR EACH ROW EXECUTE FUNCTION slow_row();
            CREATE TRIGGER slow BEFORE INSERT ON aggregates_1m FOR EACH ROW EXECUTE FUNCTION slow_row();
            """)
        let devices = (0..<40).map { "dev\($0)" }
        let metrics = ["temperature", "humidity", "pressure", "level"]
        let minute = (wallClockMicros() / 60_000_000 - 5) * 60_000_000
        var generator = SplitMix64(seed: 14)
        func batch(_ id: String, offset: Int64) -> StorageBatch {
            // Every series of the minute, in a shuffled order: without sorting, two transactions
            // would take the same rows' locks in different orders.
            var samples: [Sample] = []
            for d in devices.indices { for m in metrics.indices {
                samples.append(Sample(deviceIndex: UInt32(d), metricIndex: UInt16(m), timestampMicros: minute + offset, value: 50))
            } }
            samples.shuffle(using: &generator)
            return StorageBatch(id: id, deviceNames: devices, metricNames: metrics, samples: samples)
        }
        var failures: [String] = []
        let rounds = 4
        for round in 0..<rounds {
            let a = batch("a\(round)", offset: Int64(round) * 2)
            let b = batch("b\(round)", offset: Int64(round) * 2 + 1)
            @Sendable func attempt(_ storage: StorageActor, _ batch: StorageBatch) async -> String? {
                do { _ = try await storage.write(batch); return nil } catch { return "\(error)" }
            }
            async let x = attempt(first, a)
            async let y = attempt(second, b)
            failures += [await x, await y].compactMap { $0 }
        }
        #expect(failures.isEmpty, "\(failures.prefix(3))")
        #expect(try db.scalar("SELECT count(*) FROM samples") == rounds * 2 * devices.count * metrics.count - failures.count * devices.count * metrics.count)
        #expect(try db.aggregateMismatches() == 0)
    }
}
