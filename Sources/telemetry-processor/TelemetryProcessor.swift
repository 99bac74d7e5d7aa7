import Control
import Foundation
import Logging
import Processor
import ServiceLifecycle
import Systemd
import TelemetryConfiguration

/// telemetry-processor: consumes the hub's streams and compatibility tasks into PostgreSQL.
@main
struct TelemetryProcessor {
    static func main() async {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info") ?? .info
            return handler
        }
        let logger = Logger(label: "telemetry-processor")
        let configuration: ProcessorConfiguration
        let http: HTTPConfiguration
        do {
            let reader = try await ConfigurationLoader.reader(arguments: CommandLine.arguments)
            configuration = try ProcessorConfiguration(reader: reader)
            http = try HTTPConfiguration(reader: reader, defaultPort: 8081)
        } catch {
            FileHandle.standardError.write(Data("telemetry-processor: \(error)\n".utf8))
            exit(2)
        }
        let notifier = SystemdNotifier()
        let processor = ProcessorService(configuration: configuration, logger: logger,
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
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: endpoints), .init(service: processor)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
            .withMaximumGracefulShutdown(seconds: configuration.shutdownTimeoutSeconds))
        do {
            try await group.run()
        } catch {
            logger.critical("processor failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }
}
