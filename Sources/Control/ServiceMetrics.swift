import Foundation
import SystemSupport
public import Supervision
public import Systemd

/// Metrics both daemons expose: supervisor restarts per child, stalled stages (the watchdog's
/// view), the process start time (its changes count restarts by systemd or Kubernetes) and the
/// standard Prometheus `process_*` metrics.
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
        e.gauge("process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.", value: DaemonRuntime.startTime)
        guard let stats = ProcessStats.current() else { return }
        e.counter("process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.", value: stats.cpuSeconds)
        e.gauge("process_resident_memory_bytes", help: "Resident memory size in bytes.", value: Double(stats.residentBytes))
        e.gauge("process_virtual_memory_bytes", help: "Virtual memory size in bytes.", value: Double(stats.virtualBytes))
        if let open = stats.openFileDescriptors {
            e.gauge("process_open_fds", help: "Number of open file descriptors.", value: Double(open))
        }
        if let max = stats.maxFileDescriptors {
            e.gauge("process_max_fds", help: "Maximum number of open file descriptors.", value: Double(max))
        }
    }
}
