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
    /// `ProcessInfo.systemUptime` when the process started, for the status's uptime.
    public static let startUptime = ProcessInfo.processInfo.systemUptime
    /// Wall-clock start time (seconds since the epoch), for `telemetry_process_start_time_seconds`.
    public static let startTime = Date().timeIntervalSince1970

    /// Structured records to journald when systemd connected stderr to the journal (or when
    /// `LOG_JOURNAL=true`), else one line per record on stderr; at `LOG_LEVEL` (default info).
    /// The level starts from `LOG_LEVEL` and follows `log.level` once the configuration is read
    /// (and at every reload).
    public static func bootstrapLogging(identifier: String) {
        _ = (startUptime, startTime)  // pinned at start-up
        let environment = ProcessInfo.processInfo.environment
        LogLevelControl.level = Logger.Level(rawValue: environment["LOG_LEVEL"] ?? "info") ?? .info
        let journal = environment["LOG_JOURNAL"].map { $0 == "true" || $0 == "1" } ?? JournaldLogHandler.stderrIsJournal()
        LoggingSystem.bootstrap { label in
            if journal {
                return DynamicLevelLogHandler(wrapped: JournaldLogHandler(label: label, identifier: identifier))
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .trace
            return DynamicLevelLogHandler(wrapped: handler)
        }
    }

    /// Reads the configuration with `build` (and `log.level`), or exits with status 2 and the
    /// reason on stderr.
    public static func loadConfiguration<T: Sendable>(_ name: String, _ build: @Sendable (ConfigReader) throws -> T) async -> T {
        do {
            return try await readConfiguration(build)
        } catch {
            FileHandle.standardError.write(Data("\(name): \(error)\n".utf8))
            exit(2)
        }
    }

    /// Reads the configuration afresh (flags, environment, the `--config` file) and applies its
    /// `log.level` (`LOG_LEVEL`); throws without changing anything when a value is invalid.
    public static func readConfiguration<T: Sendable>(_ build: @Sendable (ConfigReader) throws -> T) async throws -> T {
        let reader = try await ConfigurationLoader.reader(arguments: CommandLine.arguments)
        let built = try build(reader)
        let levelName = try reader.strictString("log.level", default: "info",
                                                choices: Logger.Level.allCases.map(\.rawValue))
        LogLevelControl.level = Logger.Level(rawValue: levelName) ?? .info
        return built
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
