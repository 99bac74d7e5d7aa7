import Control
import Logging
import Processor
import Systemd

/// telemetry-processor: consumes the hub's streams and compatibility tasks into PostgreSQL.
@main
struct TelemetryProcessor {
    static func main() async {
        DaemonRuntime.bootstrapLogging(identifier: "telemetry-processor")
        let logger = Logger(label: "telemetry-processor")
        let (configuration, http) = await DaemonRuntime.loadConfiguration("telemetry-processor") { reader in
            (try ProcessorConfiguration(reader: reader), try HTTPConfiguration(reader: reader, defaultPort: 8081))
        }
        let notifier = SystemdNotifier()
        let watchdog = Watchdog(notifier: notifier, logger: logger)
        let processor = ProcessorService(configuration: configuration, logger: logger,
                                         heartbeat: { watchdog.register($0) },
                                         onReady: { notifier.ready(status: $0) },
                                         onStopping: { notifier.stopping(status: "finishing in-flight work") })
        let counters = processor.counters
        let endpoints = HTTPEndpoints.application(
            configuration: http, metrics: MetricsExporter(), logger: logger,
            collect: { exporter in ProcessorMetrics.collect(counters, into: exporter) },
            readiness: {
                let redis = counters.redisReachable.load(ordering: .relaxed) == 1
                let postgres = counters.postgresReachable.load(ordering: .relaxed) == 1
                let started = counters.started.load(ordering: .relaxed) == 1
                return Readiness(ready: redis && postgres && started, checks: [
                    "redis": redis ? "reachable" : "unreachable", "postgres": postgres ? "reachable" : "unreachable",
                    "startup": started ? "done" : "in progress"])
            })
        let watchdogService = WatchdogService(watchdog: watchdog, status: { counters.summary })
        await DaemonRuntime.run([endpoints, watchdogService, processor], shutdownTimeoutSeconds: configuration.shutdownTimeoutSeconds, logger: logger)
    }
}
