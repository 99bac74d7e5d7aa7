import Foundation
import Postgres
import Redis
import Testing

/// Fault drills on real servers: processes killed in the middle of a load of a known size.
@Suite("Fault drills (real Redis and PostgreSQL)", .serialized)
struct FaultDrillTests {
    @Test("kill -9 of the processor mid-load, then a restart: every sample once, aggregates equal a recount")
    func killNineAndRestart() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let sensors = 20, readings = 150
        let expected = sensors * readings * 3
        var processor = try Daemon("telemetry-processor", name: "kill9-processor-1", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "kill9-hub", environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: 50))
        #expect(try await eventually(timeout: .seconds(60)) { try db.scalar("SELECT count(*) FROM samples") > expected / 5 })
        await processor.stop(signal: SIGKILL)
        let atKill = try db.scalar("SELECT count(*) FROM samples")
        let pendingAtKill = try deployment.pendingEntries()
        let start = ContinuousClock.now
        processor = try Daemon("telemetry-processor", name: "kill9-processor-2", environment: deployment.processorEnvironment())
        let recovery = try await db.expectStoredOnce(expected, "processor:\n\(processor.tail)") - start
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
        #expect(try deployment.pendingEntries() == 0)
        print("drill kill -9: sent \(expected), stored \(expected), \(atKill) stored and \(pendingAtKill) entries pending at the kill, complete \(recovery) after restart")
    }

    @Test("two processors, one killed with kill -9: the survivor takes its shards over and completes their pending entries")
    func survivorTakesOver() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let sensors = 24, readings = 200
        let expected = sensors * readings * 3
        let first = try Daemon("telemetry-processor", name: "takeover-p1", environment: deployment.processorEnvironment(consumer: "p1"))
        let second = try Daemon("telemetry-processor", name: "takeover-p2", environment: deployment.processorEnvironment(consumer: "p2"))
        // Both must own shards before the load starts.
        let redis = try TestServers.redis()
        func owners() throws -> [String?] {
            try redis.send(RedisCommand(["MGET"] + (0..<8).map { "\(deployment.prefix):lease:\($0)" })).array?.map(\.string) ?? []
        }
        let balanced = try await eventually(timeout: .seconds(30)) {
            let o = try owners()
            return o.filter { $0 == "p1" }.count == 4 && o.filter { $0 == "p2" }.count == 4
        }
        #expect(balanced, "leases: \((try? owners()) ?? [])")
        let hub = try Daemon("telemetry-hub", name: "takeover-hub", environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: 50))
        #expect(try await eventually(timeout: .seconds(60)) { try db.scalar("SELECT count(*) FROM samples") > expected / 5 })
        await first.stop(signal: SIGKILL)
        let killedAt = ContinuousClock.now
        let tookOver = try await eventually(timeout: .seconds(30)) { try owners().allSatisfy { $0 == "p2" } }
        #expect(tookOver, "leases: \((try? owners()) ?? [])")
        let takeover = ContinuousClock.now - killedAt
        try await db.expectStoredOnce(expected, "survivor:\n\(second.tail)")
        #expect(await hub.stop() == 0)
        #expect(await second.stop() == 0)
        #expect(try deployment.pendingEntries() == 0)
        print("drill takeover: sent \(expected), stored \(expected), survivor owned every shard \(takeover) after the kill")
    }
}
