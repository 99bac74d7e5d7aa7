import Foundation
import Postgres
import Testing

/// The change feed (Docs/change-feed.md) on real clusters of the test's own: a downstream
/// PostgreSQL subscribed to `telemetry_feed`, a wal2json slot read with `pg_recvlogical`, and the
/// slots' retained WAL in the processor's metrics and status.
@Suite("Change feed (real PostgreSQL clusters)", .serialized)
struct ChangeFeedTests {
    @Test("a second PostgreSQL cluster subscribed to telemetry_feed ends with exactly the primary's rows; pg_recvlogical with wal2json sees every insert; each slot's retained WAL is in /metrics and telemetryctl status")
    func subscriberAndSlot() async throws {
        let primary = try PostgresServer(options: "-c wal_level=logical -c max_slot_wal_keep_size=64MB")
        let downstream = try PostgresServer()
        let deployment = try Deployment()
        let processor = try Daemon("telemetry-processor", name: "feed-processor", environment: deployment.processorEnvironment(extra: ["POSTGRES_URL": primary.conninfo]))
        #expect(try await eventually(timeout: .seconds(60)) { try primary.scalar("SELECT count(*) FROM pg_publication WHERE pubname = 'telemetry_feed' AND pubviaroot") == 1 },
                "\(processor.tail)")
        let superuser = ["-h", "127.0.0.1", "-U", "postgres", "-d", "telemetry"]
        let recvlogical = "\(primary.binaries)/pg_recvlogical"
        let (created, createdText) = try await runTool(recvlogical, superuser + ["-p", String(primary.port), "--slot", "feed_json", "--create-slot", "-P", "wal2json"])
        #expect(created == 0, "\(createdText)")
        // The downstream schema from the primary's, then the subscription.
        let schema = "\(primary.directory)/schema.sql"
        let (dumped, dumpText) = try await runTool("\(primary.binaries)/pg_dump", superuser + ["-p", String(primary.port), "--schema-only", "--no-publications",
                                                                                               "--no-subscriptions", "-f", schema])
        #expect(dumped == 0, "\(dumpText)")
        let (loaded, loadText) = try await runTool("/usr/bin/psql", superuser + ["-p", String(downstream.port), "-q", "-v", "ON_ERROR_STOP=1", "-f", schema])
        #expect(loaded == 0, "\(loadText)")
        let (subscribed, subscribeText) = try await runTool("/usr/bin/psql", superuser + ["-p", String(downstream.port), "-c", """
            CREATE SUBSCRIPTION feed_sub CONNECTION 'host=127.0.0.1 port=\(primary.port) user=postgres dbname=telemetry' PUBLICATION telemetry_feed
            """])
        #expect(subscribed == 0, "\(subscribeText)")

        let hub = try Daemon("telemetry-hub", name: "feed-hub", environment: deployment.hubEnvironment(sensors: 4, readings: 150, rate: 100, spikes: 0.05))
        #expect(try await eventually(timeout: .seconds(90)) { try primary.scalar("SELECT count(*) FROM samples") == 1800 }, "\(processor.tail)")
        #expect(await hub.stop() == 0)
        let source = try PostgresConnection(conninfo: "host=127.0.0.1 port=\(primary.port) user=postgres dbname=telemetry")
        let copy = try PostgresConnection(conninfo: "host=127.0.0.1 port=\(downstream.port) user=postgres dbname=telemetry")
        let expected = try ReplayTests.fingerprint(source)
        #expect(expected[0].hasPrefix("1800:"))
        let same = try await eventually(timeout: .seconds(60)) { try ReplayTests.fingerprint(copy) == expected }
        let downstreamPrint = try ReplayTests.fingerprint(copy)
        #expect(same, "downstream \(downstreamPrint) vs primary \(expected)")
        for table in ["devices", "metrics", "aggregates_1m", "aggregates_1h", "aggregates_1d", "tenants"] {
            let sql = "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM \(table) t"
            let (there, here) = (try copy.execute(sql).rows.first?[0], try source.execute(sql).rows.first?[0])
            #expect(there == here, "\(table)")
        }

        // The wal2json slot saw each sample's insert, from its day partition.
        let end = try source.execute("SELECT pg_current_wal_lsn()").rows.first?[0] ?? ""
        let feed = "\(primary.directory)/feed.json"
        let (read, readText) = try await runTool(recvlogical, superuser + ["-p", String(primary.port), "--slot", "feed_json", "--start", "--no-loop",
                                                                           "--endpos", end, "-f", feed, "-o", "format-version=2"])
        #expect(read == 0, "\(readText)")
        let lines = ((try? String(contentsOfFile: feed, encoding: .utf8)) ?? "").split(separator: "\n")
        let inserts = lines.filter { $0.contains("\"action\":\"I\"") && $0.contains("\"table\":\"samples_p") }
        #expect(inserts.count == 1800, "\(inserts.count) sample inserts of \(lines.count) lines")

        // Both slots, with what they retain, in the processor's metrics and status.
        let seen = try await eventually(timeout: .seconds(20)) {
            let metrics = try await processor.get("/metrics").1
            return metrics.contains("telemetry_processor_replication_slot_retained_bytes{slot=\"feed_json\"}")
                && metrics.contains("telemetry_processor_replication_slot_active{slot=\"feed_sub\"} 1")
        }
        let slotLines = try await processor.get("/metrics").1.split(separator: "\n").filter { $0.contains("slot") }
        #expect(seen, "\(slotLines)")
        let (_, status) = try await runTool("telemetryctl", ["status", "--socket", processor.controlSocket])
        #expect(status.contains("slot          feed_json (logical, INACTIVE): retains") && status.contains("of 64.0 MiB allowed"), "\(status)")
        #expect(await processor.stop() == 0)
        _ = try? copy.execute("DROP SUBSCRIPTION feed_sub")
    }
}
