import Query
import Testing

@Suite("Replica lag breaker (pure state machine, injected clock)")
struct ReplicaBreakerTests {
    let settings = ReplicaBreaker.Settings(maxLagSeconds: 5, maxFailures: 3, openSeconds: 60)

    @Test("lag over the limit opens it at once; it stays open for open_s whatever the probes say, then half-open refuses until a probe decides")
    func lag() {
        var b = ReplicaBreaker(settings: settings)
        // Never probed: its lag is unknown, so it serves nothing yet.
        let a1 = b.admits(nowMillis: 0)
        #expect(!a1 && b.state == .halfOpen)
        b.probeSucceeded(lagSeconds: 4.9, nowMillis: 500)
        let a2 = b.admits(nowMillis: 500)
        #expect(a2 && b.lastLagSeconds == 4.9)
        b.probeSucceeded(lagSeconds: 5.2, nowMillis: 1000)
        let a3 = b.admits(nowMillis: 1000)
        #expect(!a3 && b.stateName == "open")
        // Lag recovered, but the breaker stays open for its full time.
        b.probeSucceeded(lagSeconds: 0.1, nowMillis: 1500)
        let a4 = b.admits(nowMillis: 60_999)
        #expect(!a4)
        #expect(b.stateName == "open")
        // Time is over: half-open, still refusing; the next good probe closes it.
        let a5 = b.admits(nowMillis: 61_000)
        #expect(!a5)
        #expect(b.state == .halfOpen)
        b.probeSucceeded(lagSeconds: 0.2, nowMillis: 61_500)
        let a6 = b.admits(nowMillis: 61_500)
        #expect(a6 && b.state == .closed(failures: 0))
    }

    @Test("a half-open probe that lags or fails opens it again for a full open_s")
    func halfOpenRelapse() {
        var b = ReplicaBreaker(settings: settings)
        b.probeSucceeded(lagSeconds: 9, nowMillis: 0)
        _ = b.admits(nowMillis: 60_000)
        b.probeSucceeded(lagSeconds: 6, nowMillis: 60_100)
        #expect(b.state == .open(untilMillis: 120_100, reason: "lag 6.0 s over 5.0 s"))
        _ = b.admits(nowMillis: 120_100)
        b.failed(nowMillis: 120_200, reason: "connection refused")
        #expect(b.state == .open(untilMillis: 180_200, reason: "probe failed: connection refused"))
        let a7 = b.admits(nowMillis: 180_199)
        #expect(!a7)
    }

    @Test("max_failures failures in a row open it; a success in between resets the count")
    func failures() {
        var b = ReplicaBreaker(settings: settings)
        b.failed(nowMillis: -1, reason: "first probe")
        #expect(b.state == .open(untilMillis: 59_999, reason: "probe failed: first probe"))
        b = ReplicaBreaker(settings: settings)
        b.probeSucceeded(lagSeconds: 0, nowMillis: 0)
        b.failed(nowMillis: 0, reason: "timeout")
        b.failed(nowMillis: 1, reason: "timeout")
        b.probeSucceeded(lagSeconds: 0, nowMillis: 2)
        #expect(b.state == .closed(failures: 0))
        b.failed(nowMillis: 3, reason: "a")
        b.failed(nowMillis: 4, reason: "b")
        let a8 = b.admits(nowMillis: 4)
        #expect(a8 && b.state == .closed(failures: 2))
        b.failed(nowMillis: 5, reason: "c")
        let a9 = b.admits(nowMillis: 5)
        #expect(!a9)
        #expect(b.state == .open(untilMillis: 60_005, reason: "3 failures in a row, last: c"))
    }

    @Test("edges: an unknown (NaN, infinite) lag is a failure; a clock near Int64.max cannot overflow; lag exactly at the limit serves; negative lag reads as 0")
    func edges() {
        var b = ReplicaBreaker(settings: ReplicaBreaker.Settings(maxLagSeconds: 5, maxFailures: 1, openSeconds: 1e12))
        b.probeSucceeded(lagSeconds: .nan, nowMillis: .max - 10)
        #expect(b.state == .open(untilMillis: .max, reason: "probe failed: lag unknown"))
        let a10 = b.admits(nowMillis: .max - 1)
        #expect(!a10)
        var c = ReplicaBreaker(settings: settings)
        c.probeSucceeded(lagSeconds: 5, nowMillis: 0)
        let a11 = c.admits(nowMillis: 0)
        #expect(a11)
        c.probeSucceeded(lagSeconds: -3, nowMillis: 1)
        let a12 = c.admits(nowMillis: 1)
        #expect(c.lastLagSeconds == 0 && a12)
        c.probeSucceeded(lagSeconds: .infinity, nowMillis: 2)
        #expect(c.state == .closed(failures: 1))
        #expect(ReplicaBreaker.Settings(maxFailures: 0).maxFailures == 1)
    }
}
