public import Configuration
import Foundation
public import Logging
public import ServiceLifecycle
import Systemd
import TelemetryConfiguration

/// What the two daemons' entry points share: logging set-up, configuration loading that stops
/// start-up with exit status 2 and a message naming the key, and the service group run with
/// graceful shutdown on SIGTERM/SIGINT.
public enum DaemonRuntime {
    /// Structured records to journald when systemd connected stderr to the journal (or when
    /// `LOG_JOURNAL=true`), else one line per record on stderr; at `LOG_LEVEL` (default info).
    public static func bootstrapLogging(identifier: String) {
        let environment = ProcessInfo.processInfo.environment
        let level = Logger.Level(rawValue: environment["LOG_LEVEL"] ?? "info") ?? .info
        let journal = environment["LOG_JOURNAL"].map { $0 == "true" || $0 == "1" } ?? JournaldLogHandler.stderrIsJournal()
        LoggingSystem.bootstrap { label in
            if journal {
                var handler = JournaldLogHandler(label: label, identifier: identifier)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// Reads the configuration with `build`, or exits with status 2 and the reason on stderr.
    public static func loadConfiguration<T: Sendable>(_ name: String, _ build: @Sendable (ConfigReader) throws -> T) async -> T {
        do {
            let reader = try await ConfigurationLoader.reader(arguments: CommandLine.arguments)
            return try build(reader)
        } catch {
            FileHandle.standardError.write(Data("\(name): \(error)\n".utf8))
            exit(2)
        }
    }

    /// Runs `services` until they finish or a signal stops them; exits 1 if one fails.
    public static func run(_ services: [any Service], shutdownTimeoutSeconds: Int, logger: Logger) async {
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
            .withMaximumGracefulShutdown(seconds: shutdownTimeoutSeconds))
        do {
            try await group.run()
        } catch {
            logger.critical("service failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }
}
