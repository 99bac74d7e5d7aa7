import Configuration
import Control
import Logging
import Redis
import Systemd
import TelemetryConfiguration
import TelemetryStatus

/// The `telemetry-processor` daemon: consumes the hub's streams and compatibility tasks into
/// PostgreSQL, with systemd notify and watchdog, the HTTP endpoints (health, readiness, metrics),
/// the control socket and the processor service under its supervisor. The executable only calls
/// ``main()``.
public enum ProcessorDaemon {
    /// Runs the processor until SIGTERM or SIGINT and its drain; throws `DaemonExit` with the status
    /// the process should end with (2 for a configuration error, 1 for a service that failed).
    /// `arguments` are what the configuration reader sees: the program name, `--config PATH`
    /// and overriding flags (`--num-workers 4`).
    public static func main(arguments: [String] = CommandLine.arguments) async throws(DaemonExit) {
        DaemonRuntime.bootstrapLogging(identifier: "telemetry-processor")
        let logger = Logger(label: "telemetry-processor")
        let settings = try await DaemonRuntime.loadConfiguration("telemetry-processor", arguments: arguments, ProcessorSettings.init(reader:))
        let (configuration, http, control) = (settings.processor, settings.surface.http, settings.surface.control)
        let notifier = SystemdNotifier()
        let watchdog = Watchdog(notifier: notifier, logger: logger)
        let processor = ProcessorService(configuration: configuration, logger: logger,
                                         heartbeat: { watchdog.register($0) },
                                         onReady: { notifier.ready(status: $0) },
                                         onStopping: { notifier.stopping(status: "finishing in-flight work") })
        let counters = processor.counters
        let rates = RateTracker()
        let surface = DaemonSurface(
            name: "telemetry-processor", http: http, control: control, notifier: notifier, watchdog: watchdog,
            supervisor: processor.supervisor, shutdownTimeoutSeconds: configuration.shutdownTimeoutSeconds, rates: rates,
            rateCounters: {
                ["stored": counters.samplesStored.load(ordering: .relaxed), "items": counters.itemsCompleted.load(ordering: .relaxed),
                 "entries": counters.entriesRead.load(ordering: .relaxed)]
            },
            readiness: {
                let redis = counters.redisReachable.load(ordering: .relaxed) == 1
                let postgres = counters.postgresReachable.load(ordering: .relaxed) == 1
                let started = counters.started.load(ordering: .relaxed) == 1
                let missing = counters.shards.withoutGroup
                return Readiness(ready: redis && postgres && started && missing.isEmpty, checks: [
                    "redis": redis ? "reachable" : "unreachable", "postgres": postgres ? "reachable" : "unreachable",
                    "startup": started ? "done" : "in progress",
                    "consumer_group": missing.isEmpty ? "present" : "missing on shards \(missing), being recreated"])
            },
            started: { counters.started.load(ordering: .relaxed) == 1 },
            summary: {
                let r = rates.rates
                let shards = counters.shards
                return "stored \(RateTracker.format(r["stored"]))/s, items \(RateTracker.format(r["items"]))/s, "
                    + "lag \(shards.totalLag.map(String.init) ?? "unknown"), pending \(shards.reduce(0) { $0 + $1.pending }), "
                    + "queues \(counters.workerQueueDepth.load(ordering: .relaxed)), "
                    + "redis \(counters.redisReachable.load(ordering: .relaxed) == 1 ? "up" : "down"), "
                    + "postgres \(counters.postgresReachable.load(ordering: .relaxed) == 1 ? "up" : "down")"
            },
            metrics: { ProcessorMetrics.collect(counters, into: $0) },
            status: { status(processor: processor, rates: rates, into: &$0) },
            reload: {
                let fresh = try await DaemonRuntime.readConfiguration(arguments: arguments, ProcessorSettings.init(reader:)).processor
                return processor.reload(fresh)
            })
        try await surface.serve(service: processor, logger: logger)
    }

    /// The processor's own fields of the `GET /v1/status` document.
    /// The processor's part of the status document (`telemetryctl status`).
    static func status(processor: ProcessorService, rates: RateTracker, into document: inout StatusDocument) {
        let c = processor.counters
        let r = rates.rates
        let shards = c.shards
        document.consumer = processor.configuration.consumer.name
        document.queues = ["worker_queues": c.workerQueueDepth.load(ordering: .relaxed),
                           "worker_queue_capacity": processor.configuration.worker.count * processor.configuration.worker.queueDepth,
                           "dead_letter_stream": c.deadLetterStreamLength.load(ordering: .relaxed)]
        document.rates = ["samples_stored_per_s": r["stored"] ?? 0, "items_per_s": r["items"] ?? 0, "entries_read_per_s": r["entries"] ?? 0]
        document.totals = ["samples_stored": c.samplesStored.load(ordering: .relaxed), "items_completed": c.itemsCompleted.load(ordering: .relaxed),
                           "duplicate_batches": c.duplicateBatches.load(ordering: .relaxed), "alerts": c.alerts.load(ordering: .relaxed),
                           "retries": c.retries.load(ordering: .relaxed), "dead_letters": c.deadLettersByReason.values.reduce(0, +)]
        document.consumerLag = shards.totalLag
        document.pending = shards.reduce(0) { $0 + $1.pending }
        document.slots = c.replicationSlots.withLock { $0 }.map {
            StatusDocument.Slot(name: $0.name, kind: $0.kind, active: $0.active, walStatus: $0.walStatus, retainedBytes: $0.retainedBytes, limitBytes: $0.limitBytes)
        }
        document.shards = shards.enumerated().map {
            StatusDocument.Shard(shard: $0.offset, length: $0.element.length, lag: $0.element.lag, pending: $0.element.pending,
                                 group: $0.element.groupExists ? "present" : "missing")
        }
    }
}

/// Everything the processor reads at start: its own configuration, the HTTP endpoints and the
/// control socket (what `--help` lists and `check-config` checks).
package struct ProcessorSettings: Sendable {
    package var processor: ProcessorConfiguration
    package var surface: DaemonSurfaceSettings

    package init(reader: ConfigReader) throws(ConfigurationError) {
        processor = try ProcessorConfiguration(reader: reader)
        surface = try DaemonSurfaceSettings(reader: reader, name: "processor", defaultPort: 8081)
    }
}

extension ProcessorDaemon: DaemonDefinition {
    /// `telemetry-processor`.
    public static var name: String { "telemetry-processor" }
    /// What the processor does, for `--help`.
    public static var abstract: String { "Reads the Redis streams and stores the samples in PostgreSQL, exactly once." }
    /// The shipped processor configuration.
    public static var exampleConfiguration: String { "Configuration/processor.yaml" }
    /// Reads everything the processor reads at start.
    public static func readConfiguration(_ reader: ConfigReader) throws(ConfigurationError) { _ = try ProcessorSettings(reader: reader) }
}
