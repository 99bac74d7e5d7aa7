public import ServiceLifecycle
public import Systemd

/// Runs the ``Watchdog`` (pings and `STATUS=`) as a service of the daemon's group, until graceful
/// shutdown begins.
public struct WatchdogService: Service {
    let watchdog: Watchdog
    let status: @Sendable () -> String

    /// Runs `watchdog`, with `status` giving its `STATUS=` line.
    public init(watchdog: Watchdog, status: @escaping @Sendable () -> String) {
        self.watchdog = watchdog
        self.status = status
    }

    /// Pings and refreshes `STATUS=` until graceful shutdown begins; never throws.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await watchdog.run(status: status)
        }
    }
}
