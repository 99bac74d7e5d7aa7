@testable import Query
import Testing

@Suite("Series planner and query parameters (pure)")
struct SeriesPlannerTests {
    static let hour: Int64 = 3_600_000_000
    static let t0: Int64 = 1_764_720_000 * 1_000_000  // 2025-12-03T00:00:00Z

    @Test("an explicit step: raw is capped by max_points; a rollup step counts its buckets, floored to the step, and refuses past max_points")
    func explicitSteps() throws {
        #expect(try SeriesPlanner.plan(from: Self.t0, to: Self.t0 + 24 * Self.hour, step: .raw, maxPoints: 10).get() == .raw(limit: 10))
        // 24 h of 1m is 1440 buckets.
        #expect(try SeriesPlanner.plan(from: Self.t0, to: Self.t0 + 24 * Self.hour, step: .oneMinute, maxPoints: 1440).get()
                == .rollup(.oneMinute, fromBucket: Self.t0, buckets: 1440))
        guard case .failure(let failure) = SeriesPlanner.plan(from: Self.t0, to: Self.t0 + 24 * Self.hour, step: .oneMinute, maxPoints: 1439) else {
            Issue.record("1440 buckets passed a 1439-point cap")
            return
        }
        #expect(failure.status == 400 && failure.code == "too_many_points")
        // A range starting mid-bucket starts at that bucket.
        #expect(try SeriesPlanner.plan(from: Self.t0 + 90_000_000, to: Self.t0 + 180_000_000, step: .oneMinute, maxPoints: 10).get()
                == .rollup(.oneMinute, fromBucket: Self.t0 + 60_000_000, buckets: 2))
        // Before 1970 the floor still goes down.
        #expect(try SeriesPlanner.plan(from: -1, to: 1, step: .oneDay, maxPoints: 10).get() == .rollup(.oneDay, fromBucket: -86_400_000_000, buckets: 2))
    }

    @Test("no step: raw for a range that holds at most max_points seconds, else the finest rollup that fits; 30 days of 1 Hz go to 1h")
    func plannerChoice() throws {
        #expect(try SeriesPlanner.plan(from: Self.t0, to: Self.t0 + Self.hour, step: nil, maxPoints: 10_000).get() == .raw(limit: 10_000))
        #expect(try SeriesPlanner.plan(from: Self.t0, to: Self.t0 + 24 * Self.hour, step: nil, maxPoints: 10_000).get()
                == .rollup(.oneMinute, fromBucket: Self.t0, buckets: 1440))
        #expect(try SeriesPlanner.plan(from: Self.t0, to: Self.t0 + 30 * 24 * Self.hour, step: nil, maxPoints: 10_000).get()
                == .rollup(.oneHour, fromBucket: Self.t0, buckets: 720))
        #expect(try SeriesPlanner.plan(from: Self.t0, to: Self.t0 + 3650 * 24 * Self.hour, step: nil, maxPoints: 10_000).get()
                == .rollup(.oneDay, fromBucket: Self.t0, buckets: 3650))
        #expect(SeriesPlanner.plan(from: Self.t0, to: Self.t0 + 3650 * 24 * Self.hour, step: nil, maxPoints: 100).failure?.code == "too_many_points")
    }

    @Test("a range that is empty, reversed or overflows Int64 is a 400 naming from")
    func badRanges() {
        for (from, to) in [(Self.t0, Self.t0), (Self.t0, Self.t0 - 1), (Int64.min, Int64.max), (Int64.min, 0)] {
            let failure = SeriesPlanner.plan(from: from, to: to, step: nil, maxPoints: 10).failure
            #expect(failure?.status == 400 && failure?.message.hasPrefix("from") == true, "\(from) \(to): \(String(describing: failure))")
        }
        // Extremes of a rollup step do not trap.
        #expect(SeriesPlanner.plan(from: Int64.max - 10, to: Int64.max, step: .oneDay, maxPoints: 10).failure == nil)
    }

    @Test("durations: a whole number with s, m, h or d, or plain seconds; anything else is a 400 naming the parameter")
    func durations() throws {
        #expect(try QueryParameters.duration("stale_for", "10m") == 600_000_000)
        #expect(try QueryParameters.duration("stale_for", "30") == 30_000_000)
        #expect(try QueryParameters.duration("stale_for", "7d") == 7 * 86_400_000_000)
        #expect(try QueryParameters.duration("stale_for", "0s") == 0)
        #expect(try QueryParameters.duration("stale_for", nil) == nil)
        for bad in ["", "m", "-1m", "10x", "1.5h", "99999999999999d", "١٠m", "10 m", "\u{0}"] {
            #expect(throws: ReadFailure.self, "\(bad)") { try QueryParameters.duration("stale_for", bad) }
        }
        #expect(throws: ReadFailure.self) { try QueryParameters.time("from", "2026-13-01T00:00:00Z") }
        #expect(try QueryParameters.time("from", "2026-12-03T10:00:00+02:00") == 1_796_284_800 * 1_000_000)
        #expect(throws: ReadFailure.self) { try QueryParameters.name("device", "a\u{1}b") }
        #expect(throws: ReadFailure.self) { try QueryParameters.name("device", String(repeating: "x", count: 257)) }
        #expect(throws: ReadFailure.self) { try QueryParameters.integer("limit", "1e3", default: 1, in: 1...10) }
    }
}

extension Result {
    var failure: Failure? { if case .failure(let failure) = self { failure } else { nil } }
}

@Suite("AsyncLimiter")
struct AsyncLimiterTests {
    @Test("at most limit holders; a waiter gets the next released slot; one that waits too long, or finds the queue full, gets false")
    func limits() async {
        let limiter = AsyncLimiter(limit: 2, maxWaiters: 1)
        #expect(await limiter.acquire(timeout: .seconds(1)))
        #expect(await limiter.acquire(timeout: .seconds(1)))
        #expect(limiter.inUse == 2)
        #expect(await !limiter.acquire(timeout: .milliseconds(20)), "a third holder")
        async let waiter = limiter.acquire(timeout: .seconds(10))
        try? await Task.sleep(for: .milliseconds(50))
        #expect(await !limiter.acquire(timeout: .seconds(10)), "the queue holds one waiter")
        limiter.release()
        #expect(await waiter)
        #expect(limiter.inUse == 2)
        limiter.release()
        limiter.release()
        #expect(limiter.inUse == 0)
        // Cancelled while waiting: false, and the slot count is intact.
        let firstAgain = await limiter.acquire(timeout: .seconds(1))
        let secondAgain = await limiter.acquire(timeout: .seconds(1))
        #expect(firstAgain && secondAgain)
        let cancelled = Task { await limiter.acquire(timeout: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        #expect(await !cancelled.value)
        limiter.release()
        limiter.release()
        #expect(limiter.inUse == 0)
    }
}
