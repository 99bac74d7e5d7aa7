import Foundation
import Logging
import Synchronization
public import TelemetryCore

/// Sends `WATCHDOG=1` at half of `WATCHDOG_USEC`, but only while every registered stage makes
/// progress or is idle by design: a stalled stage stops the pings and systemd restarts the
/// service. Also refreshes `STATUS=` with a one-line summary.
public final class Watchdog: Sendable {
    private let stages = Mutex<[StageHeartbeat]>([])
    private let notifier: SystemdNotifier
    private let intervalMicros: Int64?
    private let logger: Logger

    /// Reads `WATCHDOG_USEC` (and `WATCHDOG_PID`, which must be this process when set).
    public init(notifier: SystemdNotifier, logger: Logger, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.notifier = notifier
        self.logger = logger
        let pidMatches = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        intervalMicros = pidMatches ? environment["WATCHDOG_USEC"].flatMap(Int64.init).flatMap { $0 > 0 ? $0 : nil } : nil
    }

    /// A heartbeat for a new stage.
    public func register(_ name: String) -> StageHeartbeat {
        let heartbeat = StageHeartbeat(name: name)
        stages.withLock { $0.append(heartbeat) }
        return heartbeat
    }

    /// Names of the stages that have not progressed within the watchdog interval.
    public func stalledStages() -> [String] {
        guard let intervalMicros else { return [] }
        let now = StageHeartbeat.now()
        return stages.withLock { $0.filter { !$0.isHealthy(now: now, limitNanos: intervalMicros * 1000) }.map(\.name) }
    }

    /// Pings until cancelled (every half `WATCHDOG_USEC`); `status` gives the `STATUS=` line,
    /// refreshed every 5 s whatever the watchdog interval.
    public func run(status: @Sendable () -> String) async {
        let period = intervalMicros.map { Duration.microseconds($0 / 2) } ?? .seconds(5)
        let tick = min(period, .seconds(1))
        var lastPing = ContinuousClock.now - period
        var lastStatus = ContinuousClock.now - .seconds(10)
        var reportedStall = false
        while !Task.isCancelled {
            if intervalMicros != nil, ContinuousClock.now - lastPing >= period - .milliseconds(5) {
                lastPing = .now
                let stalled = stalledStages()
                if stalled.isEmpty {
                    notifier.notify("WATCHDOG=1")
                    reportedStall = false
                } else if !reportedStall {
                    logger.critical("stages stalled: watchdog pings stopped", metadata: ["stages": "\(stalled)"])
                    reportedStall = true
                }
            }
            if ContinuousClock.now - lastStatus >= .seconds(5) {
                notifier.status(status())
                lastStatus = .now
            }
            try? await Task.sleep(for: tick)
        }
    }
}
