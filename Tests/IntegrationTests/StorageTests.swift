import Foundation
import Logging
import Postgres
import Processor
import Redis
import TelemetryCore
import Testing

/// The StorageActor and the partition task against a real PostgreSQL.
@Suite("Storage (real PostgreSQL)")
struct StorageTests {
    func partitions(_ db: TestDatabase) throws -> [String] {
        try db.connect().execute("""
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'samples'::regclass ORDER BY 1
            """).rows.compactMap { $0[0] }
    }

    @Test("the partition task, driven by an injected clock, creates ahead and drops expired days; a day with no partition is stored")
    func partitionTask() async throws {
        let db = try TestDatabase.create()
        let storage = StorageActor(conninfo: db.conninfo, logger: Logger(label: "test"))
        try await storage.prepare()
        let day0 = Timestamp.parseRFC3339("2030-01-10T12:00:00Z")!
        let day: Int64 = 86_400_000_000
        try await storage.maintainPartitions(nowMicros: day0, aheadDays: 2, retentionDays: 5, aggregateRetentionDays: 400)
        #expect(try partitions(db) == ["samples_p20300110", "samples_p20300111", "samples_p20300112"])
        for d in 1...8 {
            try await storage.maintainPartitions(nowMicros: day0 + Int64(d) * day, aheadDays: 2, retentionDays: 5, aggregateRetentionDays: 400)
        }
        #expect(try partitions(db) == (13...20).map { "samples_p203001\($0)" })

        let far = Timestamp.parseRFC3339("2030-01-25T08:00:00Z")!
        let batch = StorageBatch(id: "b1", deviceNames: ["dev"], metricNames: ["temperature"],
                                 samples: [Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: far, value: 21.5)])
        let outcome = try await storage.write(batch)
        #expect(outcome.inserted == 1)
        #expect(try partitions(db).contains("samples_p20300125"))
        #expect(try db.scalar("SELECT count(*) FROM samples") == 1)
    }

    @Test("each transaction moves its streams' positions forward only, up to the largest ids; a row from another timeline is reported, and stays, until marked checked")
    func streamPositions() async throws {
        let db = try TestDatabase.create()
        let book = StreamPositionBook()
        let storage = StorageActor(conninfo: db.conninfo, logger: Logger(label: "test"), positions: book)
        try await storage.prepare()
        #expect(book.take() == [:], "a new connection reports what it found, here nothing")
        #expect(book.take() == nil)
        func batch(_ id: String, _ stream: String, _ entry: StreamID) -> StorageBatch {
            var batch = StorageBatch(id: id, deviceNames: ["dev"], metricNames: ["m"],
                                     samples: [Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: wallClockMicros() + Int64(id.hashValue % 1000), value: 1)])
            batch.position = StreamPosition(stream: stream, id: entry)
            return batch
        }
        let top = StreamID(milliseconds: .max, sequence: .max)
        _ = try await storage.write([batch("a", "s:0", StreamID(milliseconds: 5, sequence: 1)), batch("b", "s:0", StreamID(milliseconds: 5, sequence: 2)),
                                     batch("c", "s:1", top)])
        _ = try await storage.write(batch("d", "s:0", StreamID(milliseconds: 4, sequence: 9)))  // older, committed later
        let rows = try db.connect().execute("SELECT stream, ms::text, seq::text FROM stream_positions ORDER BY stream").rows
        #expect(rows == [["s:0", "5", "2"], ["s:1", "18446744073709551615", "18446744073709551615"]])
        #expect(try await storage.streamPositions().isEmpty, "every row is on the server's timeline")
        // A row written on another timeline (a standby promoted since) is reported, by the next
        // connection before anything is written on it, until marked checked.
        try db.connect().execute("UPDATE stream_positions SET timeline = 'FFFFFFFF' WHERE stream = 's:0'")
        #expect(try await storage.streamPositions() == ["s:0": StreamID(milliseconds: 5, sequence: 2)])
        // Frozen until checked: a commit of a later entry leaves it (a processor stopped before
        // its re-read leaves the check to the next one).
        _ = try await storage.write(batch("e", "s:0", StreamID(milliseconds: 7, sequence: 0)))
        #expect(try await storage.streamPositions() == ["s:0": StreamID(milliseconds: 5, sequence: 2)])
        let again = StorageActor(conninfo: db.conninfo, logger: Logger(label: "test"), positions: book)
        #expect(try await again.streamPositions().count == 1)
        #expect(book.take() == ["s:0": StreamID(milliseconds: 5, sequence: 2)])
        try await storage.adoptTimeline(stream: "s:0", at: StreamID(milliseconds: 5, sequence: 1))  // not its position: unchanged
        #expect(try await storage.streamPositions().count == 1)
        try await storage.adoptTimeline(stream: "s:0", at: StreamID(milliseconds: 5, sequence: 2))
        #expect(try await storage.streamPositions().isEmpty)
        _ = try await storage.write(batch("f", "s:0", StreamID(milliseconds: 8, sequence: 0)))
        #expect(try db.scalar("SELECT ms FROM stream_positions WHERE stream = 's:0'") == 8)

        // A shard without any row, on a server where another row is from an older timeline: the
        // promoted standby missed all its commits, so it is reported from its start until checked.
        let shards = StorageActor(conninfo: db.conninfo, logger: Logger(label: "test"), positions: StreamPositionBook(streams: ["s:0", "s:1", "s:2"]))
        #expect(try await shards.streamPositions().isEmpty, "no older row: a stream without a row is only new")
        try db.connect().execute("UPDATE stream_positions SET timeline = 'FFFFFFFF' WHERE stream = 's:1'")
        let zero = StreamID(milliseconds: 0, sequence: 0)
        #expect(try await shards.streamPositions() == ["s:1": top, "s:2": zero])
        try await shards.adoptTimeline(stream: "s:2", at: zero)
        try await shards.adoptTimeline(stream: "s:1", at: top)
        #expect(try await shards.streamPositions().isEmpty)
        _ = try await shards.write(batch("g", "s:2", StreamID(milliseconds: 3, sequence: 0)))
        #expect(try db.scalar("SELECT ms FROM stream_positions WHERE stream = 's:2'") == 3)
        // At start, a shard without a row gets one at 0-0 (the others are left as they are): a
        // standby that has it from before a failover reports it from the start on its own.
        let started = StorageActor(conninfo: db.conninfo, logger: Logger(label: "test"), positions: StreamPositionBook(streams: ["s:0", "s:2", "s:3"]))
        _ = try await started.prepare()
        let seeded = try db.connect().execute("SELECT stream, ms::text, seq::text FROM stream_positions ORDER BY stream").rows
        #expect(seeded == [["s:0", "8", "0"], ["s:1", "18446744073709551615", "18446744073709551615"], ["s:2", "3", "0"], ["s:3", "0", "0"]])
        #expect(try await started.streamPositions().isEmpty)
        try db.connect().execute("UPDATE stream_positions SET timeline = 'FFFFFFFF' WHERE stream = 's:3'")
        #expect(try await started.streamPositions() == ["s:3": zero])
    }

    @Test("a redelivered batch and a re-sent sample add nothing; a conflicting value keeps the first and is counted")
    func exactlyOnce() async throws {
        let db = try TestDatabase.create()
        let storage = StorageActor(conninfo: db.conninfo, logger: Logger(label: "test"))
        try await storage.prepare()
        let t = wallClockMicros()
        let samples = (0..<10).map { Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: t + Int64($0), value: Double($0)) }
        let alert = AlertRecord(device: 0, metric: 0, timestampMicros: t + 3, value: 3, rule: "threshold_high", severity: "critical")
        let first = try await storage.write(StorageBatch(id: "a", deviceNames: ["dev"], metricNames: ["temperature"], samples: samples, alerts: [alert]))
        #expect(first == StorageOutcome(duplicateBatch: false, inserted: 10, duplicates: 0, conflictingValues: 0, alertsInserted: 1))
        let again = try await storage.write(StorageBatch(id: "a", deviceNames: ["dev"], metricNames: ["temperature"], samples: samples, alerts: [alert]))
        #expect(again.duplicateBatch)
        // Samples 5…9 again inside another batch, 9 with another value, plus two new ones.
        var resent = Array(samples[5...])
        resent[4].value = 99
        resent += [Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: t + 100, value: 1),
                   Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: t + 100, value: 2)]
        let alerts = [AlertRecord(device: 0, metric: 0, timestampMicros: t + 9, value: 99, rule: "threshold_high", severity: "critical")]
        let mixed = try await storage.write(StorageBatch(id: "b", deviceNames: ["dev"], metricNames: ["temperature"], samples: resent, alerts: alerts))
        #expect(mixed.inserted == 1)
        #expect(mixed.duplicates == 6)
        #expect(mixed.conflictingValues == 2)
        #expect(mixed.alertsInserted == 0)
        #expect(try db.scalar("SELECT count(*) FROM samples") == 11)
        #expect(try db.scalar("SELECT count(*) FROM alerts") == 1)
        #expect(try db.scalar("SELECT value::int FROM samples WHERE ts = timestamptz 'epoch' + \(t + 9) * interval '1 microsecond'") == 9)
        #expect(try db.scalar("SELECT value::int FROM samples WHERE ts = timestamptz 'epoch' + \(t + 100) * interval '1 microsecond'") == 1)
        #expect(try db.aggregateMismatches() == 0)
        #expect(try db.scalar("SELECT (attrs -> 'temperature' ->> 'value')::float::int FROM device_latest") == 1)
    }

    @Test("two instances migrating at once apply each migration once")
    func concurrentMigrations() async throws {
        let db = try TestDatabase.create()
        let a = StorageActor(conninfo: db.conninfo, logger: Logger(label: "a"))
        let b = StorageActor(conninfo: db.conninfo, logger: Logger(label: "b"))
        async let first = a.prepare()
        async let second = b.prepare()
        let applied = try await first + second
        #expect(applied.sorted() == Schema.migrations.map(\.version))
        #expect(try db.scalar("SELECT count(*) FROM schema_migrations") == Schema.migrations.count)
    }
}
