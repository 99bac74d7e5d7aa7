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
        do {
            let reader = try await ConfigurationLoader.reader(arguments: CommandLine.arguments)
            configuration = try HubConfiguration(reader: reader)
        } catch {
            FileHandle.standardError.write(Data("telemetry-hub: \(error)\n".utf8))
            exit(2)
        }
        let notifier = SystemdNotifier()
        let hub = HubService(configuration: configuration, logger: logger,
                             onReady: { notifier.ready(status: $0) },
                             onStopping: { notifier.stopping(status: "draining") })
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: hub)],
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
