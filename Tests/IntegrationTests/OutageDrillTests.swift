import Foundation
import Postgres
import Testing

/// An unreachable PostgreSQL pauses consumption; it spends no retry and sends nothing to the DLQ.
@Suite("Outage drills (real Redis and PostgreSQL)", .serialized)
struct OutageDrillTests {
    @Test("PostgreSQL stopped for 20 s mid-load: nothing lost, nothing dead-lettered, both services stay up and catch up")
    func postgresOutage() async throws {
        let postgres = try PostgresServer()
        let deployment = try Deployment()
        let sensors = 20, readings = 400
        let expected = sensors * readings * 3
        let processor = try Daemon("telemetry-processor", name: "pg-outage-processor",
                                   environment: deployment.processorEnvironment(extra: ["POSTGRES_URL": postgres.conninfo]))
        let hub = try Daemon("telemetry-hub", name: "pg-outage-hub", environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: 50))
        #expect(try await eventually(timeout: .seconds(60)) { try postgres.scalar("SELECT count(*) FROM samples") > expected / 5 })
        try postgres.stop()
        let stoppedAt = ContinuousClock.now
        try await Task.sleep(for: .seconds(5))
        // Readiness reports the outage: the processor is not ready, the hub still accepts data.
        let (processorReady, processorBody) = try await processor.get("/ready")
        #expect(processorReady == 503 && processorBody.contains(#""postgres":"unreachable""#), "\(processorBody)")
        let (hubReady, _) = try await hub.get("/ready")
        #expect(hubReady == 200)
        #expect(try await processor.get("/health").0 == 200)
        try await Task.sleep(for: .seconds(15))
        #expect(processor.isRunning && hub.isRunning, "a service died during the outage")
        try postgres.start()
        let complete = try await eventually(timeout: .seconds(90)) { try postgres.scalar("SELECT count(*) FROM samples") >= expected }
        let caughtUp = ContinuousClock.now - stoppedAt
        #expect(complete, "processor:\n\(processor.tail)")
        try await Task.sleep(for: .milliseconds(500))
        #expect(try postgres.scalar("SELECT count(*) FROM samples") == expected)
        #expect(try deployment.deadLetters().isEmpty)
        let log = (try? String(contentsOfFile: processor.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("postgres unavailable, pausing"))
        #expect(!log.contains("will retry"), "an outage must not spend retry attempts")
        var readyAgain = false
        for _ in 0..<50 where !readyAgain {
            readyAgain = try await processor.get("/ready").0 == 200
            if !readyAgain { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(readyAgain, "the processor did not report ready after the outage")
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
        #expect(try deployment.pendingEntries() == 0)
        print("drill postgres outage: sent \(expected), stored \(expected), 0 dead letters, caught up \(caughtUp) after the stop (20 s of it the outage)")
    }
}
