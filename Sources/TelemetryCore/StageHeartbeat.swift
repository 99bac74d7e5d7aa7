import Foundation
import Synchronization

/// Progress of one long-running stage, for the watchdog: the stage beats on every round of its
/// loop, and marks itself idle while it waits for work by design (an empty queue is not a hang).
public final class StageHeartbeat: Sendable {
    /// The stage name the watchdog reports when the stage stalls.
    public let name: String
    /// Monotonic nanoseconds of the last beat; 0 while idle.
    private let last = Atomic<Int64>(0)

    /// Starts idle: a stage that has not started yet is not stalled.
    public init(name: String) {
        self.name = name
    }

    /// Records progress now; call it on every round of the loop.
    public func beat() { last.store(Self.now(), ordering: .relaxed) }

    /// Starts the clock on a wait that is not by design (Redis answering every write with an
    /// error, such as OOM at `maxmemory`): the first call stamps the time, later ones keep it, so
    /// the stage reads as stalled once the condition outlasts the watchdog interval. ``idle()``
    /// ends it.
    public func beatOnce() { _ = last.compareExchange(expected: 0, desired: Self.now(), ordering: .relaxed) }
    /// Marks the stage idle, waiting by design: it cannot read as stalled until it beats again.
    public func idle() { last.store(0, ordering: .relaxed) }

    /// Runs `body` as a wait by design (backpressure from a full queue, an outage being waited
    /// out with retries): idle meanwhile, then beats. The stage that causes the wait keeps its
    /// own heartbeat, so a real hang is still seen there.
    public func waiting<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async -> T) async -> T {
        idle()
        let result = await body()
        beat()
        return result
    }

    /// True when the stage is idle or beat within `limitNanos`.
    public func isHealthy(now: Int64, limitNanos: Int64) -> Bool {
        let value = last.load(ordering: .relaxed)
        return value == 0 || now - value < limitNanos
    }

    /// The heartbeats' clock, monotonic nanoseconds (``monotonicNanos()``): the `now` of
    /// ``isHealthy(now:limitNanos:)``.
    public static func now() -> Int64 { monotonicNanos() }
}

