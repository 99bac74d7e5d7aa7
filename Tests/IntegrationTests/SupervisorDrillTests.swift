import Foundation
import Testing

/// The supervisor on the real daemon: a worker made to throw (test-only fault switch, right after
/// COMMIT and before XACK) is restarted with backoff and nothing is lost or doubled; failures past
/// the intensity limit end the process with a non-zero status.
@Suite("Supervisor drills (real Redis and PostgreSQL)", .serialized)
struct SupervisorDrillTests {
    @Test("workers that throw after COMMIT are restarted with backoff; every sample stored once; restarts visible in status and metrics")
    func restartKeepsCountsExact() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let sensors = 12, readings = 100
        let expected = sensors * readings * 3
        let processor = try Daemon("telemetry-processor", name: "supervise-processor", environment: deployment.processorEnvironment(extra: [
            "TELEMETRY_FAULT_WORKER_THROWS": "3", "SUPERVISOR_BACKOFF_INITIAL_MS": "200", "SUPERVISOR_MAX_RESTARTS": "10"]))
        let hub = try Daemon("telemetry-hub", name: "supervise-hub", environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: 50))
        try await db.expectStoredOnce(expected, "processor:\n\(processor.tail)")
        #expect(try await eventually(timeout: .seconds(10)) { try deployment.pendingEntries() == 0 })
        #expect(processor.isRunning)

        let (code, output) = try await runTool("telemetryctl", ["status", "--json", "--socket", processor.controlSocket])
        #expect(code == 0, "\(output)")
        let documents = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] ?? []
        let children = documents.first?["children"] as? [[String: Any]] ?? []
        let workers = children.filter { ($0["name"] as? String)?.hasPrefix("worker-") == true }
        #expect(workers.reduce(0) { $0 + (($1["restarts"] as? Int) ?? 0) } == 3, "\(children)")
        #expect(workers.contains { ($0["last_error"] as? String)?.contains("injected worker fault") == true })
        #expect(workers.allSatisfy { $0["state"] as? String == "running" })
        // Each restarted worker re-processed the items it held (one, or the group it committed
        // together): already committed, so only acknowledged.
        let totals = documents.first?["totals"] as? [String: Any] ?? [:]
        #expect((totals["duplicate_batches"] as? Int ?? 0) >= 3, "\(totals)")

        let (_, metrics) = try await processor.get("/metrics")
        let restarts = metrics.split(separator: "\n").filter { $0.hasPrefix("telemetry_supervisor_restarts_total{") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
        #expect(restarts == 3, "\(metrics)")

        let log = try String(contentsOfFile: processor.logPath, encoding: .utf8)
        #expect(log.contains("child failed; restarting after backoff"))
        #expect(log.contains("re-processing the items held when this worker failed"))
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0, "\(processor.tail)")
        print("drill supervisor: sent \(expected), stored \(expected), 3 worker restarts, 0 pending")
    }

    @Test("failures past the intensity limit end the process with a non-zero status; a restarted process stores everything once")
    func intensityEscalates() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let sensors = 12, readings = 40
        let expected = sensors * readings * 3
        let hub = try Daemon("telemetry-hub", name: "intensity-hub", environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: 50))
        let failing = try Daemon("telemetry-processor", name: "intensity-processor-1", environment: deployment.processorEnvironment(extra: [
            "TELEMETRY_FAULT_WORKER_THROWS": "1000", "SUPERVISOR_BACKOFF_INITIAL_MS": "20", "SUPERVISOR_MAX_RESTARTS": "3",
            "SUPERVISOR_PERIOD_S": "60",
            // Tiny queues: the consumer is blocked pushing into a failing worker's full queue when
            // the supervisor gives up, and must still be cancelled.
            "WORKER_QUEUE_DEPTH": "1", "NUM_WORKERS": "2"]))
        let exited = try await eventually(timeout: .seconds(60)) { !failing.isRunning }
        #expect(exited, "\(failing.tail)")
        let status = await failing.stop()
        #expect(status != nil && status != 0, "exit status \(String(describing: status))")
        let log = try String(contentsOfFile: failing.logPath, encoding: .utf8)
        #expect(log.contains("restart intensity exceeded"), "\(failing.tail)")

        let processor = try Daemon("telemetry-processor", name: "intensity-processor-2", environment: deployment.processorEnvironment())
        try await db.expectStoredOnce(expected, "processor:\n\(processor.tail)")
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
        #expect(try deployment.pendingEntries() == 0)
        print("drill intensity: the failing processor exited with status \(status ?? -1); its successor stored \(expected) of \(expected)")
    }
}
