import Foundation
import Processor
import Redis
import TelemetryCore
import Testing

/// Retries with backoff that survive a restart, dead letters after the last retry, and a
/// redelivery after COMMIT that changes nothing.
@Suite("Retry drills (real Redis and PostgreSQL)", .serialized)
struct RetryDrillTests {
    static func task(_ id: String, device: String, temperature: Double, maxRetries: Int) -> String {
        let ts = Timestamp.formatRFC3339(micros: wallClockMicros() - 30_000_000)
        return #"{"id": "\#(id)", "type": "telemetry.alert", "payload": {"device_id": "\#(device)", "timestamp": "\#(ts)", "temperature": \#(temperature)}, "max_retries": \#(maxRetries)}"#
    }

    @Test("fails twice with the processor killed between attempts: retried at the recorded times, then stored; an always-failing task ends in the DLQ after exactly max_retries retries")
    func transientAndPermanent() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let redis = try TestServers.redis()
        let environment = deployment.processorEnvironment(extra: ["RETRY_BASE_MS": "3000", "RETRY_MAX_MS": "3000"])
        var processor = try Daemon("telemetry-processor", name: "retry-processor-1", environment: environment)
        #expect(try await eventually(timeout: .seconds(30)) { try db.scalar("SELECT count(*) FROM schema_migrations") == Schema.migrations.count })
        try db.connect().execute("""
            CREATE SEQUENCE flaky_attempts;
            CREATE FUNCTION fail_on_purpose() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE device text;
            BEGIN
                SELECT name INTO device FROM devices WHERE id = NEW.device_id;
                IF device LIKE '%_flaky' AND nextval('flaky_attempts') <= 2 THEN RAISE EXCEPTION 'transient failure'; END IF;
                IF device LIKE '%_doomed' THEN RAISE EXCEPTION 'permanent failure'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER fail_on_purpose BEFORE INSERT ON samples FOR EACH ROW EXECUTE FUNCTION fail_on_purpose();
            """)
        let flaky = Self.task("flaky-1", device: "\(deployment.prefix)_flaky", temperature: 21, maxRetries: 3)
        let doomed = Self.task("doomed-1", device: "\(deployment.prefix)_doomed", temperature: 21, maxRetries: 2)
        _ = try redis.pipeline([RedisCommand(["RPUSH", "\(deployment.prefix):tasks", flaky]), RedisCommand(["RPUSH", "\(deployment.prefix):tasks", doomed])])

        // Kill the processor as soon as the first failure is on record.
        let ledger = "\(deployment.prefix):retries"
        #expect(try await eventually(timeout: .seconds(30), every: .milliseconds(20)) { try redis.send(["HEXISTS", ledger, "task:flaky-1"]).int == 1 })
        await processor.stop(signal: SIGKILL)
        let recorded = try redis.send(["HGET", ledger, "task:flaky-1"]).string ?? ""
        let fields = recorded.split(separator: ":").compactMap { Int64($0) }
        #expect(fields.count == 3 && fields[0] >= 1, "ledger: \(recorded)")
        let dueAt = fields.count == 3 ? fields[2] : 0

        processor = try Daemon("telemetry-processor", name: "retry-processor-2", environment: environment)
        let stored = try await eventually(timeout: .seconds(60)) { try db.scalar("SELECT count(*) FROM samples") == 1 }
        #expect(stored, "processor:\n\(processor.tail)")
        #expect(try db.scalar("SELECT last_value FROM flaky_attempts") == 3, "two failed attempts, then the one that stored")
        let storedAt = try db.scalar("SELECT (extract(epoch FROM ingested_at) * 1000)::bigint FROM samples")
        #expect(storedAt >= dueAt, "a retry ran before its recorded time (\(storedAt) < \(dueAt))")
        #expect(try redis.send(["HEXISTS", ledger, "task:flaky-1"]).int == 0)

        #expect(try await eventually(timeout: .seconds(60)) { try deployment.deadLetters().count == 1 }, "\(processor.tail)")
        let letter = try #require(try deployment.deadLetters().first)
        #expect(String(decoding: letter.fields["reason"] ?? [], as: UTF8.self) == "retries_exhausted")
        #expect(String(decoding: letter.fields["attempts"] ?? [], as: UTF8.self) == "3", "max_retries 2: the first attempt and two retries")
        #expect(String(decoding: letter.fields["source_id"] ?? [], as: UTF8.self) == "doomed-1")
        #expect(letter.fields["payload"] == Array(doomed.utf8))
        #expect(await processor.stop() == 0)
        print("drill retries: flaky task stored after 2 failures at \(storedAt) ms (due \(dueAt) ms) across a kill -9; doomed task dead-lettered after 3 attempts")
    }

    @Test("killed between COMMIT and XACK: the redelivered work fires no second alert and adds nothing to aggregates_1m")
    func redeliveryAfterCommit() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let redis = try TestServers.redis()
        _ = try redis.send(RedisCommand(["RPUSH", "\(deployment.prefix):tasks", Self.task("hot-1", device: "\(deployment.prefix)_hot", temperature: 75, maxRetries: 3)]))
        let crashing = try Daemon("telemetry-processor", name: "commit-crash-processor-1",
                                  environment: deployment.processorEnvironment(extra: ["TELEMETRY_FAULT_EXIT_AFTER_COMMITS": "1"]))
        #expect(try await eventually(timeout: .seconds(30)) { !crashing.isRunning })
        #expect(crashing.process.terminationStatus == 137)
        #expect(try db.scalar("SELECT count(*) FROM alerts") == 1)
        #expect(try redis.send(["LLEN", "\(deployment.prefix):tasks:processing:p1"]).int == 1, "the task must still be unacknowledged")

        // Hub batches too: crash after the 5th commit, with entries pending.
        let hub = try Daemon("telemetry-hub", name: "commit-crash-hub",
                             environment: deployment.hubEnvironment(sensors: 10, readings: 60, rate: 50, spikes: 0.05))
        let crashingAgain = try Daemon("telemetry-processor", name: "commit-crash-processor-2",
                                       environment: deployment.processorEnvironment(extra: ["TELEMETRY_FAULT_EXIT_AFTER_COMMITS": "5"]))
        #expect(try await eventually(timeout: .seconds(30)) { !crashingAgain.isRunning })
        let processor = try Daemon("telemetry-processor", name: "commit-crash-processor-3", environment: deployment.processorEnvironment())
        let expected = 1 + 10 * 60 * 3
        #expect(try await eventually(timeout: .seconds(60)) { try db.scalar("SELECT count(*) FROM samples") == expected }, "\(processor.tail)")
        #expect(try await eventually(timeout: .seconds(10)) { try redis.send(["LLEN", "\(deployment.prefix):tasks:processing:p1"]).int == 0 })
        #expect(try db.aggregateMismatches() == 0)
        #expect(try db.scalar("SELECT sum(count) FROM aggregates_1m") == expected)
        #expect(try db.scalar("""
            SELECT count(*) FROM alerts a JOIN devices d ON d.id = a.device_id WHERE d.name = '\(deployment.prefix)_hot'
            """) == 1)
        let log = (try? String(contentsOfFile: processor.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("batch already committed"), "the redelivered work was not recognised:\n\(processor.tail)")
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
        #expect(try deployment.pendingEntries() == 0)
        print("drill redelivery after commit: \(expected) samples once, 1 alert for the committed-then-crashed task")
    }
}
