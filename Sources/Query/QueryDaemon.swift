public import Configuration
public import Control
import Foundation
import Logging
import Systemd
public import TelemetryConfiguration
import TelemetryStatus

/// The `telemetry-query` daemon: the read API routed by consistency level over the primary, the
/// replicas and the Redis cache, with systemd notify and watchdog, `/health` `/ready` `/metrics`,
/// the control socket and its supervisor. The executable only calls ``main()``.
public enum QueryDaemon {
    /// Runs the query daemon until SIGTERM or SIGINT; throws `DaemonExit` with the status the
    /// process should end with (2 for a configuration error, 1 for a failure).
    public static func main(arguments: [String] = CommandLine.arguments) async throws(DaemonExit) {
        DaemonRuntime.bootstrapLogging(identifier: "telemetry-query")
        let logger = Logger(label: "telemetry-query")
        let settings = try await DaemonRuntime.loadConfiguration("telemetry-query", arguments: arguments, QuerySettings.init(reader:))
        let (configuration, http, control) = (settings.query, settings.surface.http, settings.surface.control)
        let notifier = SystemdNotifier()
        let watchdog = Watchdog(notifier: notifier, logger: logger)
        // Test-only, off unless set: TELEMETRY_FAULT_FILL_DELAY_MS=N holds every cache fill N ms
        // between its database read and its cache write (the slow-fill race of the cache drill).
        let fillDelay = ProcessInfo.processInfo.environment["TELEMETRY_FAULT_FILL_DELAY_MS"].flatMap(Int.init) ?? 0
        let service = QueryService(configuration: configuration, logger: logger,
                                   onReady: { notifier.ready(status: $0) },
                                   onStopping: { notifier.stopping(status: "stopping") },
                                   afterFillRead: { _ in if fillDelay > 0 { try? await Task.sleep(for: .milliseconds(fillDelay)) } })
        let counters = service.counters
        let rates = RateTracker()
        let surface = DaemonSurface(
            name: "telemetry-query", http: http, control: control, notifier: notifier, watchdog: watchdog,
            supervisor: service.supervisor, shutdownTimeoutSeconds: configuration.shutdownTimeoutSeconds, rates: rates,
            rateCounters: { ["requests": counters.responses.withLock { $0.values.reduce(0) { $0 + $1.values.reduce(0, +) } }] },
            readiness: {
                let primary = counters.primaryUp.load(ordering: .relaxed) == 1
                var checks = ["postgres_primary": primary ? "reachable" : "unreachable"]
                if configuration.cacheEnabled {
                    checks["redis_cache"] = counters.redisUp.load(ordering: .relaxed) == 1 ? "reachable" : "unreachable (reads go to the database)"
                }
                let replicas = service.nodeStatus().dropFirst()
                for node in replicas { checks["replica_\(node.name)"] = node.state }
                // Ready while some node can answer: with the primary down, healthy read replicas
                // (and the cache) still serve eventual reads; strong reads answer 503 meanwhile.
                return Readiness(ready: primary || replicas.contains { $0.role == "read" && $0.state == "closed" }, checks: checks)
            },
            started: { counters.primaryUp.load(ordering: .relaxed) == 1 },
            summary: {
                let nodes = service.nodeStatus()
                let healthy = nodes.dropFirst().filter { $0.state == "closed" }.count
                return "requests \(RateTracker.format(rates.rates["requests"]))/s, primary \(nodes[0].state), "
                    + "replicas \(healthy)/\(nodes.count - 1) serving"
            },
            metrics: { QueryMetrics.collect(service, into: $0) },
            status: { document in
                document.nodes = service.nodeStatus()
                document.rates = ["requests_per_s": rates.rates["requests"] ?? 0]
                document.totals = ["cache_hits": counters.cache.withLock { $0["HIT"] ?? 0 }, "cache_misses": counters.cache.withLock { $0["MISS"] ?? 0 }]
            },
            reload: { [] },
            routes: { service.api.register($0, host: http.host) })
        try await surface.serve(service: service, logger: logger)
    }
}

/// Everything the query daemon reads at start (what `--help` lists and `check-config` checks).
package struct QuerySettings: Sendable {
    package var query: QueryConfiguration
    package var surface: DaemonSurfaceSettings

    package init(reader: ConfigReader) throws(ConfigurationError) {
        query = try QueryConfiguration(reader: reader)
        surface = try DaemonSurfaceSettings(reader: reader, name: "query", defaultPort: 8082)
    }
}

extension QueryDaemon: DaemonDefinition {
    /// `telemetry-query`.
    public static var name: String { "telemetry-query" }
    /// What the daemon does, for `--help`.
    public static var abstract: String { "Serves reads of the stored telemetry, routed by consistency level over the primary, replicas and a cache." }
    /// The shipped configuration.
    public static var exampleConfiguration: String { "Configuration/query.yaml" }
    /// Reads everything the daemon reads at start.
    public static func readConfiguration(_ reader: ConfigReader) throws(ConfigurationError) { _ = try QuerySettings(reader: reader) }
}

/// The query daemon's metrics, mirrored from its counters at each scrape.
enum QueryMetrics {
    static func collect(_ service: QueryService, into e: MetricsExporter) {
        let c = service.counters
        for (route, statuses) in c.responses.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            for (status, count) in statuses.sorted(by: { $0.key < $1.key }) {
                e.counter("telemetry_query_responses_total", labels: [("route", route), ("status", String(status))],
                          help: "Answers of the read API by route and HTTP status", value: count)
            }
        }
        for (outcome, count) in c.reads.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            e.counter("telemetry_query_reads_total", labels: [("outcome", outcome)],
                      help: "Database reads by where they ran (primary, primary_fallback, replica) and sources passed over (replica_busy, replica_failed, fallback_refused, primary_busy)",
                      value: count)
        }
        for (status, count) in c.cache.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            e.counter("telemetry_query_cache_lookups_total", labels: [("status", status)],
                      help: "Latest-value reads by X-Cache-Status (HIT, MISS, BYPASS)", value: count)
        }
        for (outcome, count) in c.fills.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            e.counter("telemetry_query_cache_fills_total", labels: [("outcome", outcome)],
                      help: "Cache fills after a miss: filled, failed, or too_old (the read took longer than the TTL)", value: count)
        }
        for (outcome, count) in c.sessions.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            e.counter("telemetry_query_session_reads_total", labels: [("outcome", outcome)],
                      help: "Session reads with an ingest token by the node that had its batches (replica, primary) or not_yet (425)", value: count)
        }
        e.histogram("telemetry_query_request_duration_seconds", help: "Time to answer a read API request", c.duration)
        e.gauge("telemetry_query_postgres_up", help: "1 when the last probe reached the primary", value: Double(c.primaryUp.load(ordering: .relaxed)))
        e.gauge("telemetry_query_redis_up", help: "1 when the last probe reached the Redis cache", value: Double(c.redisUp.load(ordering: .relaxed)))
        e.gauge("telemetry_query_primary_fallback_in_use", help: "Eventual reads running on the primary because no read replica is healthy",
                value: Double(service.nodes.fallback.inUse))
        for node in service.nodeStatus().dropFirst() {
            e.gauge("telemetry_query_replica_serving", labels: [("replica", node.name)],
                    help: "1 while the replica's breaker is closed (it serves reads)", value: node.state == "closed" ? 1 : 0)
            e.gauge("telemetry_query_replica_lag_seconds", labels: [("replica", node.name)],
                    help: "The replica's last measured lag behind the primary (heartbeat based)", value: node.lagSeconds ?? -1)
        }
    }
}
