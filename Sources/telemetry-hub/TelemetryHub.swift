import Control
import Foundation
import Hub
import Logging
import ServiceLifecycle
import Systemd
import TelemetryConfiguration

/// telemetry-hub: reads sensors and publishes batches to Redis. See Docs/ and Configuration/hub.yaml.
@main
struct TelemetryHub {
    static func main() async {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info") ?? .info
            return handler
        }
        let logger = Logger(label: "telemetry-hub")
        let configuration: HubConfiguration
        let http: HTTPConfiguration
        do {
            let reader = try await ConfigurationLoader.reader(arguments: CommandLine.arguments)
            configuration = try HubConfiguration(reader: reader)
            http = try HTTPConfiguration(reader: reader, defaultPort: 8080)
        } catch {
            FileHandle.standardError.write(Data("telemetry-hub: \(error)\n".utf8))
            exit(2)
        }
        let notifier = SystemdNotifier()
        let hub = HubService(configuration: configuration, logger: logger,
                             onReady: { notifier.ready(status: $0) },
                             onStopping: { notifier.stopping(status: "draining") })
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
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: endpoints), .init(service: hub)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
            .withMaximumGracefulShutdown(seconds: configuration.shutdownTimeoutSeconds))
        do {
            try await group.run()
        } catch {
            logger.critical("hub failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }
}
