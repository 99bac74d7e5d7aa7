public import ArgumentParser
import Configuration
import Control
import TelemetryConfiguration
import TelemetryStatus

/// `telemetry-processor`'s command line: `telemetry-processor [--config PATH] [--key value …]` runs the
/// daemon, `telemetry-processor check-config --config PATH` validates a configuration and prints it,
/// `--help` lists every key, `--version` prints the version. Exit status 2 is a configuration
/// error and nothing else.
public struct ProcessorCommand: AsyncParsableCommand {
    /// The command, its default subcommand `run`, and the key list `--help` shows.
    public static let configuration = CommandConfiguration(
        commandName: "telemetry-processor",
        abstract: "Reads the Redis streams and stores the samples in PostgreSQL, exactly once.",
        discussion: DaemonCommandLine.keyList { _ = try ProcessorSettings(reader: $0) },
        version: TelemetryVersion.current,
        subcommands: [Run.self, CheckConfig.self],
        defaultSubcommand: Run.self)

    /// Creates the command (ArgumentParser's requirement).
    public init() {}

    /// `telemetry-processor run`, the default: runs the daemon until SIGTERM or SIGINT.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the processor (the default).")

        @Option(help: "A YAML configuration file (Configuration/processor.yaml shows every section).")
        var config: String?

        @Argument(parsing: .allUnrecognized, help: "Flags that set configuration keys: --redis-port 6379 sets redis.port.")
        var overrides: [String] = []

        func run() async throws {
            await DaemonExit.run { [config, overrides] () async throws(DaemonExit) in
                try await ProcessorDaemon.main(arguments: DaemonCommandLine.arguments(program: "telemetry-processor", config: config, overrides: overrides))
            }
        }
    }

    /// `telemetry-processor check-config`: reads the configuration as a start would, prints the
    /// effective values (secrets masked) and exits 0, or prints the problem and exits 2.
    struct CheckConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-config", abstract: "Validate a configuration and print the effective values (secrets masked).")

        @Option(help: "The YAML configuration file to check.")
        var config: String?

        @Argument(parsing: .allUnrecognized, help: "Flags that set configuration keys, as for run.")
        var overrides: [String] = []

        func run() async throws {
            let arguments = DaemonCommandLine.arguments(program: "telemetry-processor", config: config, overrides: overrides)
            do {
                print(try await DaemonCommandLine.check(arguments: arguments) { try ProcessorSettings(reader: $0) })
            } catch {
                DaemonCommandLine.printError("telemetry-processor: \(error)")
                throw ExitCode(2)
            }
        }
    }
}
