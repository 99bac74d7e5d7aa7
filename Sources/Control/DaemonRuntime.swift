public import Configuration
import Foundation
public import Logging
public import ServiceLifecycle
import Systemd
import SystemSupport
public import TelemetryConfiguration

/// What the two daemons' entry points share: logging set-up, configuration loading that stops
/// start-up with exit status 2 and a message naming the key, and the service group run with
/// graceful shutdown on SIGTERM/SIGINT.
public enum DaemonRuntime {
    /// `ProcessInfo.systemUptime` when the process started, for the status's uptime.
    public static let startUptime = ProcessInfo.processInfo.systemUptime
    /// Wall-clock start time (seconds since the epoch), for `telemetry_process_start_time_seconds`.
    public static let startTime = Date().timeIntervalSince1970

    /// Logging for a daemon: structured records to journald when systemd connected stderr to the
    /// journal, else one text line per record on stderr, or JSON lines (`LOG_FORMAT=json`); at
    /// `LOG_LEVEL` (default info). Level and format start from the environment and follow
    /// `log.level` and `log.format` once the configuration is read (and at every reload).
    /// `LOG_JOURNAL=true|false` decides what `auto` means instead of looking at `JOURNAL_STREAM`.
    public static func bootstrapLogging(identifier: String) {
        _ = (startUptime, startTime)  // pinned at start-up
        let environment = ProcessInfo.processInfo.environment
        LogLevelControl.level = Logger.Level(rawValue: environment["LOG_LEVEL"] ?? "info") ?? .info
        LogFormatControl.journalDetected = environment["LOG_JOURNAL"].map { $0 == "true" || $0 == "1" } ?? JournaldLogHandler.stderrIsJournal()
        LogFormatControl.format = environment["LOG_FORMAT"].flatMap(LogFormat.init(rawValue:)) ?? .auto
        LogFormatControl.journalAvailable = FileStatus.of(JournaldLogHandler.socketPath)?.kind == .socket
        LoggingSystem.bootstrap { label in
            var text = StreamLogHandler.standardError(label: label)
            text.logLevel = .trace
            var json = JSONLogHandler(label: label)
            json.logLevel = .trace
            return DaemonLogHandler(journal: JournaldLogHandler(label: label, identifier: identifier), text: text, json: json)
        }
    }

    /// Reads the configuration with `build` (and `log.level`); an invalid value, or a key in the
    /// `--config` file or a flag that nothing reads (a typo, named with the closest known key),
    /// ends the daemon with status 2 and the reason.
    public static func loadConfiguration<T: Sendable>(
        _ name: String, arguments: [String] = CommandLine.arguments, _ build: @Sendable (ConfigReader) throws -> T
    ) async throws(DaemonExit) -> T {
        do {
            return try await readConfiguration(arguments: arguments, build)
        } catch {
            throw DaemonExit(status: 2, message: "\(name): \(error)")
        }
    }

    /// Reads the configuration afresh (flags, environment, the `--config` file), checks that
    /// every file key and flag is one a component read, then applies `log.level` (`LOG_LEVEL`);
    /// throws without changing anything when a value or a key is wrong. At start and on reload.
    public static func readConfiguration<T: Sendable>(
        arguments: [String] = CommandLine.arguments, _ build: @Sendable (ConfigReader) throws -> T
    ) async throws -> T {
        let ((built, (level, format)), keys) = try await readConfigurationRecording(arguments: arguments) { reader in
            (try build(reader), (try logLevel(reader), try logFormat(reader)))
        }
        try checkKeys(known: keys, arguments: arguments)
        LogLevelControl.level = level
        LogFormatControl.format = format
        return built
    }

    /// Reads the configuration with `build` and `log.level` and returns every key read
    /// (``ConfigKeyCatalog``); applies nothing.
    public static func readConfigurationRecording<T: Sendable>(
        arguments: [String] = CommandLine.arguments, _ build: @Sendable (ConfigReader) throws -> T
    ) async throws -> (T, [ConfigKeyInfo]) {
        let reader = try await ConfigurationLoader.reader(arguments: arguments)
        let ((built, _), keys) = try ConfigKeyCatalog.recording { (try build(reader), (try logLevel(reader), try logFormat(reader))) }
        return (built, keys)
    }

    /// `log.level` (`LOG_LEVEL`), default `info`.
    public static func logLevel(_ reader: ConfigReader) throws(ConfigurationError) -> Logger.Level {
        Logger.Level(rawValue: try reader.strictString("log.level", default: "info", choices: Logger.Level.allCases.map(\.rawValue))) ?? .info
    }

    /// `log.format` (`LOG_FORMAT`): `auto` (journald when stderr is the journal, else text, the
    /// default), `text`, `json` or `journal`.
    public static func logFormat(_ reader: ConfigReader) throws(ConfigurationError) -> LogFormat {
        LogFormat(rawValue: try reader.strictString("log.format", default: "auto", choices: LogFormat.allCases.map(\.rawValue))) ?? .auto
    }

    /// Throws for the first key of the `--config` file (if any), or the first `--flag`, that is
    /// not among `known`, naming the closest known one.
    public static func checkKeys(known: [ConfigKeyInfo], arguments: [String]) throws {
        let flags = Set(known.map(\.flag))
        for argument in arguments.dropFirst() where argument.hasPrefix("--") {
            let flag = String(argument.prefix { $0 != "=" })
            guard flag != "--config", !flags.contains(flag) else { continue }
            throw ConfigurationError(key: flag, "is not a flag this daemon reads"
                                     + (ConfigKeyCatalog.closest(to: flag, in: flags).map { "; did you mean '\($0)'?" } ?? ""))
        }
        guard let path = ConfigurationLoader.configPath(in: arguments) else { return }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(key: "config", "cannot read \(path): \(error)")
        }
        let fileKeys: [String]
        do {
            fileKeys = try ConfigKeyCatalog.keys(inYAML: text)
        } catch {
            throw ConfigurationError(key: "config", "\(path) is not YAML: \(error)")
        }
        if let (key, suggestion) = ConfigKeyCatalog.unknownKeys(in: fileKeys, known: known).first {
            throw ConfigurationError(key: key, "is not a key this daemon reads (in \(path))"
                                     + (suggestion.map { "; did you mean '\($0)'?" } ?? ""))
        }
    }

    /// Runs `services` until they finish or a signal stops them; one that fails ends the daemon
    /// with status 1.
    public static func run(_ services: [any Service], shutdownTimeoutSeconds: Int, logger: Logger) async throws(DaemonExit) {
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
            .withMaximumGracefulShutdown(seconds: shutdownTimeoutSeconds))
        do {
            try await group.run()
        } catch {
            logger.critical("service failed", metadata: ["error": "\(error)"])
            throw DaemonExit(status: 1, message: nil)
        }
    }
}

/// How a daemon ends other than by a clean stop: the exit status (2 for a configuration error,
/// 1 for a failed service) and what to print on stderr. Library code throws it; only the
/// executable exits.
public struct DaemonExit: Error, Sendable, CustomStringConvertible {
    /// The process exit status: 2 for a configuration error, 1 for a failed service.
    public let status: Int32
    /// Printed on stderr when set (a failed service has already logged why).
    public let message: String?

    /// An exit with `status`, printing `message` on stderr when it is not nil.
    public init(status: Int32, message: String?) {
        self.status = status
        self.message = message
    }

    /// The message, or `exit status N` when there is none.
    public var description: String { message ?? "exit status \(status)" }

    /// Runs a daemon's `main`: prints the message of a ``DaemonExit`` and exits with its status.
    public static func run(_ main: @Sendable () async throws(DaemonExit) -> Void) async {
        do {
            try await main()
        } catch {
            if let message = error.message { DaemonCommandLine.printError(message) }
            exit(error.status)
        }
    }
}
