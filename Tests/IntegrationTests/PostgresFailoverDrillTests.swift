import Foundation
import Postgres
import TelemetryCore
import Testing

/// PostgreSQL failover (Docs/high-availability.md): the processor's multi-host `postgres.url`
/// finds the promoted standby, and what the standby missed of the old primary's asynchronous
/// commits is re-read from the streams.
@Suite("PostgreSQL failover drills", .serialized)
struct PostgresFailoverDrillTests {
    /// With `processorKilled`, the processor is killed with the primary and started again after
    /// the promotion: the new process finds the gap from the positions PostgreSQL kept.
    @Test("the primary killed mid-load and a standby that missed its last asynchronous commits promoted: the processor follows its multi-host URL (without a restart, or killed with the primary and started again), re-reads the gap from the streams, and every acknowledged sample and every reading is stored once with exact aggregates",
          arguments: [false, true])
    func promotedStandbyBehind(processorKilled: Bool) async throws {
        // `make drill` (TELEMETRY_DRILL_LONG=1): a longer load and a longer gap.
        let long = ProcessInfo.processInfo.environment["TELEMETRY_DRILL_LONG"] == "1"
        let (primary, standby) = try await onThread { () throws -> (PostgresServer, PostgresServer) in
            let primary = try PostgresServer()
            return (primary, try PostgresServer(standbyOf: primary))
        }
        let deployment = try Deployment()
        let sensors = 4, readings = long ? 1200 : 500, rate = 20.0
        let expected = sensors * readings * 3
        let url = "host=127.0.0.1,127.0.0.1 port=\(primary.port),\(standby.port) user=telemetry dbname=telemetry "
            + "target_session_attrs=read-write connect_timeout=2"
        var processor = try Daemon("telemetry-processor", name: "pg-failover-processor-\(processorKilled)",
                                   environment: deployment.processorEnvironment(extra: ["POSTGRES_URL": url]))
        let hub = try Daemon("telemetry-hub", name: "pg-failover-hub",
                             environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: rate))
        let port = try await hub.httpPort()
        let device = "\(deployment.prefix)_http"
        let base = wallClockMicros() - 60_000_000
        #expect(try await eventually(timeout: .seconds(60)) { try primary.scalar("SELECT count(*) FROM samples") > 500 }, "\(processor.tail)")
        let poster = Task { try await SentinelDrillTests.post(port, device: device, base: base, seconds: long ? 30 : 16) }
        try await Task.sleep(for: .seconds(2))

        // The standby stops receiving WAL: what the primary commits from now on, it lacks.
        let receiver = try await onThread { () throws -> Int32 in
            let pg = try PostgresConnection(conninfo: "host=127.0.0.1 port=\(standby.port) user=postgres dbname=postgres")
            guard let pid = try pg.execute("SELECT pid FROM pg_stat_wal_receiver").rows.first?[0].flatMap({ Int32($0) }) else {
                throw HarnessError("the standby has no WAL receiver")
            }
            return pid
        }
        kill(receiver, SIGSTOP)
        try await Task.sleep(for: .seconds(long ? 6 : 3))
        let onPrimary = try primary.scalar("SELECT count(*) FROM samples")
        let killedAt = ContinuousClock.now
        if processorKilled { _ = await processor.stop(signal: SIGKILL) }
        try await onThread { try primary.kill9() }
        // Not resumed: WAL still in its socket buffer would narrow the gap. Killed, the standby
        // restarts its processes and recovers from what it had written.
        kill(receiver, SIGKILL)
        var onStandby = -1
        _ = try await eventually(timeout: .seconds(30)) {
            onStandby = (try? standby.scalar("SELECT count(*) FROM samples")) ?? -1
            return onStandby >= 0
        }
        try await onThread { try standby.promote() }
        if processorKilled {
            processor = try Daemon("telemetry-processor", name: "pg-failover-processor-again",
                                   environment: deployment.processorEnvironment(extra: ["POSTGRES_URL": url]))
        }
        // The first commit on the new primary ends the stall (the re-read gap commits first).
        #expect(try await eventually(timeout: .seconds(60)) { try standby.scalar("SELECT count(*) FROM samples") > onStandby }, "\(processor.tail)")
        let stall = ContinuousClock.now - killedAt

        let acknowledged = try await poster.value
        _ = try await eventually(timeout: .seconds(90)) {
            try standby.scalar("SELECT count(*) FROM readings WHERE device LIKE '\(deployment.prefix)_sim%'") >= expected
        }
        try await SentinelDrillTests.waitForDrain([hub]) { try standby.scalar("SELECT count(*) FROM samples") }
        let db = try PostgresConnection(conninfo: standby.conninfo)
        let stored = Set(try db.query("SELECT (extract(epoch FROM ts) * 1000000)::int8 FROM readings WHERE device = $1", [device]).rows
            .compactMap { $0[0].flatMap { Int64($0) } })
        let lost = acknowledged.micros.filter { !stored.contains($0) }.count
        let simulated = try standby.scalar("SELECT count(*) FROM readings WHERE device LIKE '\(deployment.prefix)_sim%'")
        let rewinds = try await processor.metric("telemetry_processor_rewinds_total") ?? -1
        let rewound = try await processor.metric("telemetry_processor_rewound_entries_total") ?? -1
        let incomplete = try await processor.metric("telemetry_processor_rewinds_incomplete_total") ?? -1
        print("postgres failover drill (\(processorKilled ? "processor killed with the primary, started again" : "processor kept")): the standby missed \(onPrimary - onStandby) samples (primary at least \(onPrimary) at the kill, standby \(onStandby) before promotion); "
              + "stall \(stall) from the kill to the first commit on the new primary; rewinds \(Int(rewinds)), entries re-read \(Int(rewound)); "
              + "HTTP acknowledged \(acknowledged.micros.count), stored \(stored.count), lost \(lost), refused requests \(acknowledged.refused); "
              + "simulated expected \(expected), stored \(simulated)")
        #expect(onPrimary > onStandby, "the drill made no gap: the standby had every commit")
        #expect(rewinds >= 1 && rewound >= 1, "the processor re-read nothing\n\(processor.tail)")
        #expect(incomplete == 0)
        #expect(acknowledged.micros.count > 0)
        #expect(lost == 0, "acknowledged samples lost in the failover")
        #expect(stored.count == acknowledged.micros.count, "HTTP samples stored that were not acknowledged, or lost")
        #expect(simulated == expected, "device readings lost or doubled")
        #expect(try standby.scalar("SELECT count(*) - count(DISTINCT (device_id, metric_id, ts)) FROM samples") == 0)
        #expect(try standby.scalar(TestDatabase.aggregateMismatchesSQL) == 0, "aggregates_1m differ from a recount")
        let log = (try? String(contentsOfFile: processor.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("re-read the gap"), "the rewind is not logged")
        // The processor (not restarted, or restarted once) still runs and stops cleanly.
        #expect(processor.isRunning && hub.isRunning)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
        #expect(try deployment.pendingEntries() == 0)
    }
}
