import Control
import Foundation
import ServiceLifecycle
import Hub
import Logging
import Systemd

/// telemetry-hub: reads sensors and publishes batches to Redis. See Docs/ and Configuration/hub.yaml.
@main
struct TelemetryHub {
    static func main() async {
        DaemonRuntime.bootstrapLogging(identifier: "telemetry-hub")
        let logger = Logger(label: "telemetry-hub")
        let (configuration, http, control) = await DaemonRuntime.loadConfiguration("telemetry-hub") { reader in
            (try HubConfiguration(reader: reader), try HTTPConfiguration(reader: reader, defaultPort: 8080),
             try ControlSocketConfiguration(reader: reader, name: "hub"))
        }
        let notifier = SystemdNotifier()
        let watchdog = Watchdog(notifier: notifier, logger: logger)
        let hub = HubService(configuration: configuration, logger: logger,
                             onReady: { notifier.ready(status: $0) },
                             onStopping: { notifier.stopping(status: "draining") },
                             heartbeat: { watchdog.register($0) })
        let counters = hub.counters
        let rates = RateTracker()
        let readiness: @Sendable () -> Readiness = {
            // The hub accepts data while Redis takes it or the spool has room (DESIGN §6).
            let started = counters.started.load(ordering: .relaxed) == 1
            let breakerOpen = counters.breakerOpen.load(ordering: .relaxed) == 1
            let spoolFull = counters.spoolFull.load(ordering: .relaxed) == 1
            return Readiness(ready: started && !spoolFull, checks: [
                "redis": breakerOpen ? "unreachable (spooling)" : "reachable",
                "spool": spoolFull ? "full" : "has room", "startup": started ? "done" : "in progress"])
        }
        let summary: @Sendable () -> String = {
            let r = rates.rates
            return "read \(RateTracker.format(r["read"]))/s, published \(RateTracker.format(r["published"]))/s, "
                + "buffer \(hub.bufferDepth) batches, spool \(counters.spoolRecords.load(ordering: .relaxed)) batches, "
                + "breaker \(counters.breakerOpen.load(ordering: .relaxed) == 1 ? "open" : "closed")"
        }
        let endpoints = HTTPEndpoints.application(
            configuration: http, metrics: MetricsExporter(), logger: logger,
            collect: { exporter in
                HubMetrics.collect(hub, into: exporter)
                ServiceMetrics.collect(supervisor: hub.supervisor, watchdog: watchdog, into: exporter)
            },
            readiness: readiness)
        let controlSocket: any Service
        do {
            controlSocket = try ControlSocket.service(
                configuration: control, logger: logger,
                status: {
                    status(hub: hub, rates: rates, readiness: readiness(), watchdog: watchdog, summary: summary())
                },
                sample: {
                    rates.observe(["read": counters.samplesRead.load(ordering: .relaxed),
                                   "published": counters.samplesPublished.load(ordering: .relaxed),
                                   "batches": counters.batchesPublished.load(ordering: .relaxed)])
                })
        } catch {
            FileHandle.standardError.write(Data("telemetry-hub: \(error)\n".utf8))
            exit(2)
        }
        let reload = ReloadService(notifier: notifier, logger: logger, isReady: { counters.started.load(ordering: .relaxed) == 1 }) {
            let fresh = try await DaemonRuntime.readConfiguration { try HubConfiguration(reader: $0) }
            return await hub.reload(fresh)
        }
        let watchdogService = WatchdogService(watchdog: watchdog, status: summary)
        await DaemonRuntime.run([endpoints, controlSocket, reload, watchdogService, hub],
                                shutdownTimeoutSeconds: configuration.shutdownTimeoutSeconds, logger: logger)
    }

    /// The `GET /v1/status` document.
    static func status(hub: HubService, rates: RateTracker, readiness: Readiness, watchdog: Watchdog, summary: String) -> [String: any Sendable] {
        let c = hub.counters
        let r = rates.rates
        var queues: [String: any Sendable] = ["buffer_batches": hub.bufferDepth, "buffer_capacity": hub.configuration.bufferBatches]
        for bus in hub.buses { queues["ring.\(bus.name)"] = bus.ringOccupancy }
        return [
            "service": "telemetry-hub",
            "hub_id": hub.configuration.hubID,
            "pid": Int(getpid()),
            "uptime_s": Int(ProcessInfo.processInfo.systemUptime - DaemonRuntime.startUptime),
            "ready": readiness.ready,
            "summary": summary,
            "dependencies": readiness.checks,
            "children": DaemonRuntime.childrenJSON(hub.supervisor.children),
            "stalled_stages": watchdog.stalledStages(),
            "queues": queues,
            "rates": ["samples_read_per_s": r["read"] ?? 0, "samples_published_per_s": r["published"] ?? 0,
                      "batches_published_per_s": r["batches"] ?? 0],
            "totals": ["samples_read": c.samplesRead.load(ordering: .relaxed), "samples_published": c.samplesPublished.load(ordering: .relaxed),
                       "samples_dropped": c.samplesDropped.load(ordering: .relaxed), "publish_errors": c.publishErrors.load(ordering: .relaxed)],
            "spool": ["records": c.spoolRecords.load(ordering: .relaxed), "bytes": c.spoolBytes.load(ordering: .relaxed),
                      "max_bytes": hub.configuration.spoolMaxBytes, "directory": hub.configuration.spoolDirectory] as [String: any Sendable],
            "breaker": c.breakerOpen.load(ordering: .relaxed) == 1 ? "open" : "closed",
        ]
    }
}
