import Foundation
public import Supervision
public import Systemd

/// Metrics both daemons expose: supervisor restarts per child, stalled stages (the watchdog's
/// view) and the process start time (its changes count restarts by systemd or Kubernetes).
public enum ServiceMetrics {
    /// Updates, in `e`, the restarts of each of `supervisor`'s children, `watchdog`'s stalled stage count
    /// and the process start time; called at each scrape of `/metrics`.
    public static func collect(supervisor: Supervisor, watchdog: Watchdog, into e: MetricsExporter) {
        for child in supervisor.children {
            e.counter("telemetry_supervisor_restarts_total", labels: [("child", child.name)],
                      help: "Restarts of a supervised child after it failed", value: child.restarts)
        }
        e.gauge("telemetry_watchdog_stalled_stages", help: "Stages that made no progress within the watchdog interval",
                value: Double(watchdog.stalledStages().count))
        e.gauge("telemetry_process_start_time_seconds", help: "Start time of the process since the Unix epoch", value: DaemonRuntime.startTime)
    }
}
