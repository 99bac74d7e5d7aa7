import Control
import Hub
import Logging
import Systemd

/// telemetry-hub: reads sensors and publishes batches to Redis. See Docs/ and Configuration/hub.yaml.
@main
struct TelemetryHub {
    static func main() async {
        DaemonRuntime.bootstrapLogging(identifier: "telemetry-hub")
        let logger = Logger(label: "telemetry-hub")
        let (configuration, http) = await DaemonRuntime.loadConfiguration("telemetry-hub") { reader in
            (try HubConfiguration(reader: reader), try HTTPConfiguration(reader: reader, defaultPort: 8080))
        }
        let notifier = SystemdNotifier()
        let watchdog = Watchdog(notifier: notifier, logger: logger)
        let hub = HubService(configuration: configuration, logger: logger,
                             onReady: { notifier.ready(status: $0) },
                             onStopping: { notifier.stopping(status: "draining") },
                             heartbeat: { watchdog.register($0) })
        let counters = hub.counters
        let endpoints = HTTPEndpoints.application(
            configuration: http, metrics: MetricsExporter(), logger: logger,
            collect: { exporter in HubMetrics.collect(counters, into: exporter) },
            readiness: {
                // The hub accepts data while Redis takes it or the spool has room (DESIGN §6).
                let started = counters.started.load(ordering: .relaxed) == 1
                let breakerOpen = counters.breakerOpen.load(ordering: .relaxed) == 1
                let spoolFull = counters.spoolFull.load(ordering: .relaxed) == 1
                return Readiness(ready: started && !spoolFull, checks: [
                    "redis": breakerOpen ? "unreachable (spooling)" : "reachable",
                    "spool": spoolFull ? "full" : "has room", "startup": started ? "done" : "in progress"])
            })
        let watchdogService = WatchdogService(watchdog: watchdog, status: { counters.summary })
        await DaemonRuntime.run([endpoints, watchdogService, hub], shutdownTimeoutSeconds: configuration.shutdownTimeoutSeconds, logger: logger)
    }
}
