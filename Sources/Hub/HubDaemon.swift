import Configuration
import Control
import Logging
import MQTTCore
import Systemd
import TelemetryConfiguration
import TelemetryStatus

/// The `telemetry-hub` daemon: configuration, systemd notify and watchdog, the HTTP endpoints
/// (health, readiness, metrics, ingest), the control socket and the hub service under its
/// supervisor. The executable only calls ``main()``.
public enum HubDaemon {
    /// Runs the hub until SIGTERM or SIGINT and its drain; throws `DaemonExit` with the status the
    /// process should end with (2 for a configuration error, 1 for a service that failed).
    /// `arguments` are what the configuration reader sees: the program name, `--config PATH`
    /// and overriding flags (`--redis-port 6379`).
    public static func main(arguments: [String] = CommandLine.arguments) async throws(DaemonExit) {
        DaemonRuntime.bootstrapLogging(identifier: "telemetry-hub")
        let logger = Logger(label: "telemetry-hub")
        let settings = try await DaemonRuntime.loadConfiguration("telemetry-hub", arguments: arguments, HubSettings.init(reader:))
        let (configuration, http, control, ingest) = (settings.hub, settings.surface.http, settings.surface.control, settings.ingest)
        let notifier = SystemdNotifier()
        let watchdog = Watchdog(notifier: notifier, logger: logger)
        let hub = HubService(configuration: configuration, logger: logger,
                             onReady: { notifier.ready(status: $0) },
                             onStopping: { notifier.stopping(status: "draining") },
                             heartbeat: { watchdog.register($0) })
        let counters = hub.counters
        let rates = RateTracker()
        let surface = DaemonSurface(
            name: "telemetry-hub", http: http, control: control, notifier: notifier, watchdog: watchdog,
            supervisor: hub.supervisor, shutdownTimeoutSeconds: configuration.shutdownTimeoutSeconds, rates: rates,
            rateCounters: {
                ["read": counters.samplesRead.load(ordering: .relaxed), "published": counters.samplesPublished.load(ordering: .relaxed),
                 "batches": counters.batchesPublished.load(ordering: .relaxed)]
            },
            readiness: {
                // The hub accepts data while Redis takes it or the spool has room (Docs/architecture.md).
                let started = counters.started.load(ordering: .relaxed) == 1
                let breakerOpen = counters.breakerOpen.load(ordering: .relaxed) == 1
                let spoolFull = counters.spoolFull.load(ordering: .relaxed) == 1
                return Readiness(ready: started && !spoolFull, checks: [
                    "redis": breakerOpen ? "unreachable (spooling)" : "reachable",
                    "spool": spoolFull ? "full" : "has room", "startup": started ? "done" : "in progress"])
            },
            started: { counters.started.load(ordering: .relaxed) == 1 },
            summary: {
                let r = rates.rates
                return "read \(RateTracker.format(r["read"]))/s, published \(RateTracker.format(r["published"]))/s, "
                    + "buffer \(hub.bufferDepth) batches, spool \(counters.spoolRecords.load(ordering: .relaxed)) batches, "
                    + "breaker \(counters.breakerOpen.load(ordering: .relaxed) == 1 ? "open" : "closed")"
            },
            metrics: { HubMetrics.collect(hub, into: $0) },
            status: { status(hub: hub, rates: rates, into: &$0) },
            reload: {
                let fresh = try await DaemonRuntime.readConfiguration(arguments: arguments, HubSettings.init(reader:))
                return hub.reload(fresh.hub)
            },
            routes: { IngestRoutes.register(on: $0, hub: hub, configuration: ingest, host: http.host, logger: logger) })
        try await surface.serve(service: hub, logger: logger)
    }

    /// The hub's own fields of the `GET /v1/status` document.
    /// The hub's part of the status document (`telemetryctl status`).
    static func status(hub: HubService, rates: RateTracker, into document: inout StatusDocument) {
        let c = hub.counters
        let r = rates.rates
        let busStatus = hub.buses
        var queues = ["buffer_batches": hub.bufferDepth, "buffer_capacity": hub.configuration.ingest.bufferBatches]
        for bus in busStatus { queues["ring.\(bus.name)"] = bus.ringOccupancy }
        document.hubID = hub.configuration.hubID
        document.buses = busStatus.map { bus in
            let b = bus.counters
            let last = b.lastError
            return StatusDocument.Bus(name: bus.name, kind: bus.kind, connected: b.connected.load(ordering: .relaxed),
                                      readings: b.readings.load(ordering: .relaxed), samples: b.samplesRead.load(ordering: .relaxed),
                                      reconnects: b.reconnects.load(ordering: .relaxed), deadLetters: b.deadLetters.load(ordering: .relaxed),
                                      errors: b.errorsByKind.filter { $0.value > 0 }, detail: b.detail, lastError: last?.message,
                                      lastErrorAtMillis: last?.atMillis)
        }
        let brokers = hub.mqtt
        if !brokers.isEmpty {
            document.brokers = brokers.map { source in
                let m = source.counters
                let c = source.configuration
                let error = m.lastError.withLock { $0 }
                return StatusDocument.Bus(name: c.name, kind: "mqtt", connected: m.connected.load(ordering: .relaxed) == 1,
                                          readings: m.stored.load(ordering: .relaxed), samples: m.inflight.load(ordering: .relaxed),
                                          reconnects: max(0, m.sessions.load(ordering: .relaxed) - 1), deadLetters: m.deadLettered.load(ordering: .relaxed),
                                          errors: m.connectFailures.load(ordering: .relaxed) > 0 ? ["connect": m.connectFailures.load(ordering: .relaxed)] : [:],
                                          detail: "\(c.endpoint.tls == nil ? "mqtt" : "mqtts")://\(c.endpoint.host):\(c.endpoint.port), client id \(c.clientID), MQTT \(c.version.name)",
                                          lastError: error.isEmpty ? nil : error)
            }
        }
        document.queues = queues
        document.rates = ["samples_read_per_s": r["read"] ?? 0, "samples_published_per_s": r["published"] ?? 0,
                          "batches_published_per_s": r["batches"] ?? 0]
        document.totals = ["samples_read": c.samplesRead.load(ordering: .relaxed), "samples_published": c.samplesPublished.load(ordering: .relaxed),
                           "samples_dropped": c.samplesDropped.load(ordering: .relaxed), "publish_errors": c.publishErrors.load(ordering: .relaxed)]
        document.spool = StatusDocument.Spool(records: c.spoolRecords.load(ordering: .relaxed), bytes: c.spoolBytes.load(ordering: .relaxed),
                                              maxBytes: hub.configuration.spool.maxBytes, directory: hub.configuration.spool.directory)
        document.breaker = c.breakerOpen.load(ordering: .relaxed) == 1 ? "open" : "closed"
    }
}

/// Everything the hub reads at start: its own configuration, the HTTP endpoints, the control
/// socket and HTTP ingest (what `--help` lists and `check-config` checks).
package struct HubSettings: Sendable {
    package var hub: HubConfiguration
    package var surface: DaemonSurfaceSettings
    package var ingest: HTTPIngestConfiguration

    package init(reader: ConfigReader) throws(ConfigurationError) {
        hub = try HubConfiguration(reader: reader)
        surface = try DaemonSurfaceSettings(reader: reader, name: "hub", defaultPort: 8080)
        ingest = try reader.section("http.ingest", HTTPIngestConfiguration.init(reader:))
        ingest.tenants = try TenantDirectory(reader: reader, loading: .ingest, defaultToken: ingest.token)
    }
}

extension HubDaemon: DaemonDefinition {
    /// `telemetry-hub`.
    public static var name: String { "telemetry-hub" }
    /// What the hub does, for `--help`.
    public static var abstract: String { "Reads sensors and HTTP clients and writes their samples to Redis streams." }
    /// The shipped hub configuration.
    public static var exampleConfiguration: String { "Configuration/hub.yaml" }
    /// Reads everything the hub reads at start.
    public static func readConfiguration(_ reader: ConfigReader) throws(ConfigurationError) { _ = try HubSettings(reader: reader) }
}
