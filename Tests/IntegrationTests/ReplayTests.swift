import Foundation
import Postgres
import Redis
import Testing
import TelemetryCore

/// `telemetryctl replay` (Docs/operations.md): idempotent over what is stored, and a restore of
/// what the streams hold after the database lost it.
@Suite("Replay from the log (real Redis and PostgreSQL)", .serialized)
struct ReplayTests {
    /// The stored samples, alerts and latest values by name, as one digest each.
    static func fingerprint(_ pg: PostgresConnection) throws -> [String] {
        try [
            """
            SELECT count(*) || ':' || coalesce(md5(string_agg(d.name || '|' || m.name || '|' || (extract(epoch FROM s.ts) * 1000000)::bigint || '|' || s.value::text,
                   ',' ORDER BY d.name, m.name, s.ts)), '') FROM samples s JOIN devices d ON d.id = s.device_id JOIN metrics m ON m.id = s.metric_id
            """,
            """
            SELECT count(*) || ':' || coalesce(md5(string_agg(d.name || '|' || m.name || '|' || a.ts || '|' || a.rule || '|' || a.value::text,
                   ',' ORDER BY d.name, m.name, a.ts, a.rule)), '') FROM alerts a JOIN devices d ON d.id = a.device_id JOIN metrics m ON m.id = a.metric_id
            """,
            """
            SELECT count(*) || ':' || coalesce(md5(string_agg(d.name || '|' || m.name || '|' || l.ts || '|' || l.value::text, ',' ORDER BY d.name, m.name)), '')
            FROM latest_values l JOIN devices d ON d.id = l.device_id JOIN metrics m ON m.id = l.metric_id
            """,
        ].map { try pg.execute($0).rows.first?[0] ?? "" }
    }

    static func replay(_ deployment: Deployment, _ arguments: [String]) async throws -> [String: Int] {
        let (status, output) = try await runTool("telemetryctl", ["replay"] + deployment.ctlOptions + arguments + ["--json", "--postgres-url", deployment.database.conninfo])
        guard status == 0, let object = try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Int] else {
            throw HarnessError("telemetryctl replay \(arguments) failed (\(status)): \(output)")
        }
        return object
    }

    @Test("replay over a window already stored adds 0 rows and says how many entries it re-processed; after the tables (ledger included) are truncated, replay --all restores exactly what the streams hold, aggregates equal to a recount")
    func replayIsIdempotentAndRestores() async throws {
        let deployment = try Deployment()
        let from = Timestamp.formatRFC3339(micros: wallClockMicros() - 60_000_000)
        let processor = try Daemon("telemetry-processor", name: "replay-processor", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "replay-hub", environment: deployment.hubEnvironment(sensors: 4, readings: 200, rate: 100, spikes: 0.05))
        try await deployment.database.expectStoredOnce(2400, "samples did not arrive:\n\(processor.tail)")
        #expect(await hub.stop() == 0)
        #expect(try await eventually(timeout: .seconds(30)) { try deployment.pendingEntries() == 0 })
        let pg = try deployment.database.connect()
        let before = try Self.fingerprint(pg)
        #expect(before[0].hasPrefix("2400:") && !before[1].hasPrefix("0:"), "\(before)")
        let redis = try TestServers.redis()
        let lengths = try (0..<8).map { try redis.send(["XLEN", "\(deployment.prefix):stream:\($0)"]).int ?? 0 }

        // Over what is stored: nothing new, every entry re-processed, the processor still running.
        let again = try await Self.replay(deployment, ["--all", "--from", from])
        #expect(again["entries"] == lengths.reduce(0, +) && again["stored"] == 0 && again["duplicate_batches"] == again["entries"], "\(again)")
        let shard = lengths.firstIndex { $0 > 0 } ?? 0
        let one = try await Self.replay(deployment, ["--shard", String(shard), "--from", from])
        #expect(one["entries"] == lengths[shard] && one["stored"] == 0, "\(one)")
        let future = try await Self.replay(deployment, ["--all", "--from", Timestamp.formatRFC3339(micros: wallClockMicros() + 3_600_000_000)])
        #expect(future["entries"] == 0)
        #expect(try Self.fingerprint(pg) == before && deployment.database.aggregateMismatches() == 0)
        #expect(await processor.stop() == 0)

        // The database loses everything, the ledger included: the streams still hold it.
        try pg.execute("""
            TRUNCATE samples, aggregates_1m, aggregates_1h, aggregates_1d, latest_values, alerts, ingested_batches, stream_positions, devices, lake_days
            """)
        #expect(try Self.fingerprint(pg)[0] == "0:")
        let restored = try await Self.replay(deployment, ["--all", "--from", from])
        #expect(restored["entries"] == lengths.reduce(0, +) && restored["stored"] == 2400 && restored["duplicate_batches"] == 0, "\(restored)")
        #expect(try Self.fingerprint(pg) == before, "samples, alerts and latest values as before")
        #expect(try deployment.database.aggregateMismatches() == 0)
        #expect(try deployment.database.scalar("""
            SELECT count(*) FROM (SELECT device_id, metric_id, date_trunc('hour', ts) AS bucket, count(*) AS c FROM samples GROUP BY 1, 2, 3) r
            FULL JOIN aggregates_1h a USING (device_id, metric_id, bucket) WHERE a.count IS DISTINCT FROM r.c
            """) == 0)
        // Twice in a row: the second adds nothing.
        let twice = try await Self.replay(deployment, ["--all", "--from", from])
        #expect(twice["stored"] == 0 && twice["duplicate_batches"] == twice["entries"], "\(twice)")
        #expect(try Self.fingerprint(pg) == before)

        // Usage errors are status 64 with a sentence.
        for bad in [["--all", "--shard", "1", "--from", from], ["--all", "--from", "yesterday"], ["--shard", "99", "--from", from],
                    ["--all", "--from", from, "--to", "1970-01-01T00:00:00Z"]] {
            let (status, output) = try await runTool("telemetryctl", ["replay"] + deployment.ctlOptions + bad + ["--postgres-url", deployment.database.conninfo])
            #expect(status == 64, "\(bad): \(status) \(output)")
        }
    }
}
