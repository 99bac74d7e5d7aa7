import Foundation
public import Hummingbird
public import Logging
public import ServiceLifecycle
public import Supervision
public import Systemd
public import TelemetryStatus

/// What one daemon shows of itself; ``DaemonSurface/serve(service:logger:)`` puts it on the HTTP
/// endpoints, the control socket, `STATUS=` and the reload path, the same way for both daemons.
public struct DaemonSurface: Sendable {
    /// The daemon's name (`telemetry-hub`): the status document's `service` and the prefix of fatal
    /// messages.
    public var name: String
    /// Where `/health`, `/ready`, `/metrics` and ``routes`` listen.
    public var http: HTTPConfiguration
    /// Where the control socket (`GET /v1/status`) listens.
    public var control: ControlSocketConfiguration
    /// Tells systemd about reloads (`RELOADING=1`, then `READY=1`).
    public var notifier: SystemdNotifier
    /// Pinged and refreshing `STATUS=` while the daemon serves; its stalled stages go into the status
    /// document and the metrics.
    public var watchdog: Watchdog
    /// The supervisor of the service's children; their states and restarts go into status and metrics.
    public var supervisor: Supervisor
    /// How long graceful shutdown may take, in seconds, before the service group cancels the services.
    public var shutdownTimeoutSeconds: Int
    /// Per-second rates over the last 10 s of the counters that ``rateCounters`` samples.
    public var rates: RateTracker
    /// The counters sampled every second for ``rates``.
    public var rateCounters: @Sendable () -> [String: Int]
    /// What `/ready` answers; also the status document's `ready` and `dependencies`.
    public var readiness: @Sendable () -> Readiness
    /// True once the service sent `READY=1` (a reload announces itself only then).
    public var started: @Sendable () -> Bool
    /// The one-line summary of `STATUS=` and the status document.
    public var summary: @Sendable () -> String
    /// The service's own metrics (the supervisor's and the watchdog's are added).
    public var metrics: @Sendable (MetricsExporter) -> Void
    /// Fills the service's own fields of `GET /v1/status` (identity, children, readiness are set).
    public var status: @Sendable (inout StatusDocument) -> Void
    /// Reads and applies the configuration again; returns the keys that changed.
    public var reload: @Sendable () async throws -> [String]
    /// Registers the service's own HTTP routes (the hub's ingest API), next to /health, /ready and
    /// /metrics, and returns them (for the 405 answers' `Allow`).
    public var routes: @Sendable (Router<BasicRequestContext>) -> [HTTPEndpoints.Route]

    /// Collects what ``serve(service:logger:)`` shows; each closure is described at its property.
    public init(name: String, http: HTTPConfiguration, control: ControlSocketConfiguration, notifier: SystemdNotifier,
                watchdog: Watchdog, supervisor: Supervisor, shutdownTimeoutSeconds: Int, rates: RateTracker,
                rateCounters: @escaping @Sendable () -> [String: Int], readiness: @escaping @Sendable () -> Readiness,
                started: @escaping @Sendable () -> Bool, summary: @escaping @Sendable () -> String,
                metrics: @escaping @Sendable (MetricsExporter) -> Void, status: @escaping @Sendable (inout StatusDocument) -> Void,
                reload: @escaping @Sendable () async throws -> [String],
                routes: @escaping @Sendable (Router<BasicRequestContext>) -> [HTTPEndpoints.Route] = { _ in [] }) {
        self.routes = routes
        self.name = name
        self.http = http
        self.control = control
        self.notifier = notifier
        self.watchdog = watchdog
        self.supervisor = supervisor
        self.shutdownTimeoutSeconds = shutdownTimeoutSeconds
        self.rates = rates
        self.rateCounters = rateCounters
        self.readiness = readiness
        self.started = started
        self.summary = summary
        self.metrics = metrics
        self.status = status
        self.reload = reload
    }

    /// The full status document: the fields every daemon has, then the service's own.
    public func statusDocument() -> StatusDocument {
        let readiness = readiness()
        var document = StatusDocument(
            service: name, pid: Int(getpid()), uptimeSeconds: Int(ProcessInfo.processInfo.systemUptime - DaemonRuntime.startUptime),
            ready: readiness.ready, summary: summary(), dependencies: readiness.checks,
            children: supervisor.children.map {
                StatusDocument.Child(name: $0.name, state: $0.state.rawValue, restarts: $0.restarts, lastError: $0.lastError,
                                     lastErrorAtMillis: $0.lastErrorAtMillis)
            },
            stalledStages: watchdog.stalledStages())
        status(&document)
        return document
    }

    /// Runs `service` with the HTTP endpoints, the control socket, SIGHUP reload and the watchdog
    /// until it ends; a control socket that cannot be set up ends it with status 1 (a runtime failure, not a configuration error).
    public func serve(service: any Service, logger: Logger) async throws(DaemonExit) {
        let surface = self
        let endpoints = HTTPEndpoints.application(
            configuration: http, metrics: MetricsExporter(), logger: logger,
            collect: { exporter in
                surface.metrics(exporter)
                ServiceMetrics.collect(supervisor: surface.supervisor, watchdog: surface.watchdog, into: exporter)
            },
            readiness: readiness, routes: routes)
        let controlSocket: any Service
        do {
            controlSocket = try ControlSocket.service(configuration: control, logger: logger,
                                                      status: { surface.statusDocument() },
                                                      sample: { surface.rates.observe(surface.rateCounters()) })
        } catch {
            // Not a configuration error (the socket's place is fine; it is taken, or unsafe): 1.
            throw DaemonExit(status: 1, message: "\(name): \(error)")
        }
        let reloadService = ReloadService(notifier: notifier, logger: logger, isReady: started, reload: reload)
        let watchdogService = WatchdogService(watchdog: watchdog, status: summary)
        try await DaemonRuntime.run([endpoints, controlSocket, reloadService, watchdogService, service],
                                shutdownTimeoutSeconds: shutdownTimeoutSeconds, logger: logger)
    }
}
