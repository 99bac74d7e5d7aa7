public import ServiceLifecycle
public import Systemd

/// Runs the ``Watchdog`` (pings and `STATUS=`) as a service of the daemon's group, until graceful
/// shutdown begins.
public struct WatchdogService: Service {
    let watchdog: Watchdog
    let status: @Sendable () -> String

    public init(watchdog: Watchdog, status: @escaping @Sendable () -> String) {
        self.watchdog = watchdog
        self.status = status
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await watchdog.run(status: status)
        }
    }
}
