import Control
import Foundation
import ServiceLifecycle
import Logging
import Processor
import Systemd

/// telemetry-processor: consumes the hub's streams and compatibility tasks into PostgreSQL.
@main
struct TelemetryProcessor {
    static func main() async {
        DaemonRuntime.bootstrapLogging(identifier: "telemetry-processor")
        let logger = Logger(label: "telemetry-processor")
        let (configuration, http, control) = await DaemonRuntime.loadConfiguration("telemetry-processor") { reader in
            (try ProcessorConfiguration(reader: reader), try HTTPConfiguration(reader: reader, defaultPort: 8081),
             try ControlSocketConfiguration(reader: reader, name: "processor"))
        }
        let notifier = SystemdNotifier()
        let watchdog = Watchdog(notifier: notifier, logger: logger)
        let processor = ProcessorService(configuration: configuration, logger: logger,
                                         heartbeat: { watchdog.register($0) },
                                         onReady: { notifier.ready(status: $0) },
                                         onStopping: { notifier.stopping(status: "finishing in-flight work") })
        let counters = processor.counters
        let rates = RateTracker()
        let readiness: @Sendable () -> Readiness = {
            let redis = counters.redisReachable.load(ordering: .relaxed) == 1
            let postgres = counters.postgresReachable.load(ordering: .relaxed) == 1
            let started = counters.started.load(ordering: .relaxed) == 1
            return Readiness(ready: redis && postgres && started, checks: [
                "redis": redis ? "reachable" : "unreachable", "postgres": postgres ? "reachable" : "unreachable",
                "startup": started ? "done" : "in progress"])
        }
        let summary: @Sendable () -> String = {
            let r = rates.rates
            let shards = counters.shards.values
            return "stored \(RateTracker.format(r["stored"]))/s, items \(RateTracker.format(r["items"]))/s, "
                + "lag \(shards.reduce(0) { $0 + $1.lag }), pending \(shards.reduce(0) { $0 + $1.pending }), "
                + "queues \(counters.workerQueueDepth.load(ordering: .relaxed)), "
                + "redis \(counters.redisReachable.load(ordering: .relaxed) == 1 ? "up" : "down"), "
                + "postgres \(counters.postgresReachable.load(ordering: .relaxed) == 1 ? "up" : "down")"
        }
        let endpoints = HTTPEndpoints.application(
            configuration: http, metrics: MetricsExporter(), logger: logger,
            collect: { exporter in
                ProcessorMetrics.collect(counters, into: exporter)
                ServiceMetrics.collect(supervisor: processor.supervisor, watchdog: watchdog, into: exporter)
            },
            readiness: readiness)
        let controlSocket: any Service
        do {
            controlSocket = try ControlSocket.service(
                configuration: control, logger: logger,
                status: {
                    status(processor: processor, rates: rates, readiness: readiness(), watchdog: watchdog, summary: summary())
                },
                sample: {
                    rates.observe(["stored": counters.samplesStored.load(ordering: .relaxed),
                                   "items": counters.itemsCompleted.load(ordering: .relaxed),
                                   "entries": counters.entriesRead.load(ordering: .relaxed)])
                })
        } catch {
            FileHandle.standardError.write(Data("telemetry-processor: \(error)\n".utf8))
            exit(2)
        }
        let reload = ReloadService(notifier: notifier, logger: logger, isReady: { counters.started.load(ordering: .relaxed) == 1 }) {
            let fresh = try await DaemonRuntime.readConfiguration { try ProcessorConfiguration(reader: $0) }
            return processor.reload(fresh)
        }
        let watchdogService = WatchdogService(watchdog: watchdog, status: summary)
        await DaemonRuntime.run([endpoints, controlSocket, reload, watchdogService, processor],
                                shutdownTimeoutSeconds: configuration.shutdownTimeoutSeconds, logger: logger)
    }

    /// The `GET /v1/status` document.
    static func status(processor: ProcessorService, rates: RateTracker, readiness: Readiness, watchdog: Watchdog,
                       summary: String) -> [String: any Sendable] {
        let c = processor.counters
        let r = rates.rates
        let shards = c.shards.sorted { $0.key < $1.key }
        let deadLetters = c.deadLettersByReason
        return [
            "service": "telemetry-processor",
            "consumer": processor.configuration.consumerName,
            "pid": Int(getpid()),
            "uptime_s": Int(ProcessInfo.processInfo.systemUptime - DaemonRuntime.startUptime),
            "ready": readiness.ready,
            "summary": summary,
            "dependencies": readiness.checks,
            "children": DaemonRuntime.childrenJSON(processor.supervisor.children),
            "stalled_stages": watchdog.stalledStages(),
            "queues": ["worker_queues": c.workerQueueDepth.load(ordering: .relaxed),
                       "worker_queue_capacity": processor.configuration.workers * processor.configuration.workerQueueDepth,
                       "dead_letter_stream": c.deadLetterStreamLength.load(ordering: .relaxed)],
            "rates": ["samples_stored_per_s": r["stored"] ?? 0, "items_per_s": r["items"] ?? 0, "entries_read_per_s": r["entries"] ?? 0],
            "totals": ["samples_stored": c.samplesStored.load(ordering: .relaxed), "items_completed": c.itemsCompleted.load(ordering: .relaxed),
                       "duplicate_batches": c.duplicateBatches.load(ordering: .relaxed), "alerts": c.alerts.load(ordering: .relaxed),
                       "retries": c.retries.load(ordering: .relaxed), "dead_letters": deadLetters.values.reduce(0, +)],
            "consumer_lag": shards.reduce(0) { $0 + $1.value.lag },
            "pending": shards.reduce(0) { $0 + $1.value.pending },
            "shards": shards.map { ["shard": $0.key, "length": $0.value.length, "lag": $0.value.lag, "pending": $0.value.pending] as [String: any Sendable] },
        ]
    }
}
