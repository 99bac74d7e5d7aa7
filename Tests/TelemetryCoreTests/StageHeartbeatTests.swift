import TelemetryCore
import Testing

@Suite("Stage heartbeat")
struct StageHeartbeatTests {
    @Test("refusals stamp the time once: a wait that is not by design reads as a stall after the limit; idle ends it")
    func refusals() {
        let stage = StageHeartbeat(name: "redis-writes")
        let limit: Int64 = 1_000_000_000
        #expect(stage.isHealthy(now: StageHeartbeat.now() + 10 * limit, limitNanos: limit), "idle is healthy")
        stage.beatOnce()
        let first = StageHeartbeat.now()
        stage.beatOnce()  // later refusals keep the first stamp
        #expect(stage.isHealthy(now: first, limitNanos: limit))
        #expect(!stage.isHealthy(now: first + 2 * limit, limitNanos: limit), "refusals past the limit are a stall")
        stage.idle()
        #expect(stage.isHealthy(now: first + 2 * limit, limitNanos: limit))
    }
}
