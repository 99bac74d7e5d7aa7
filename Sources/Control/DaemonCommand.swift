public import ArgumentParser
public import Configuration
import TelemetryConfiguration
import TelemetryStatus

/// What a daemon gives the command line both daemons share (``DaemonCommand``).
public protocol DaemonDefinition: SendableMetatype {
    /// The executable's name (`telemetry-hub`).
    static var name: String { get }
    /// One sentence on what the daemon does, for `--help`.
    static var abstract: String { get }
    /// The shipped configuration file that shows every section (`Configuration/hub.yaml`).
    static var exampleConfiguration: String { get }
    /// Reads everything the daemon reads at start from `reader` (for `--help`'s key list and
    /// `check-config`); throws the first invalid value.
    static func readConfiguration(_ reader: ConfigReader) throws(ConfigurationError)
    /// Runs the daemon with `arguments` as the configuration reader sees them.
    static func main(arguments: [String]) async throws(DaemonExit)
}

/// A daemon's command line: `NAME [run] [--config PATH] [--key value …]` runs it,
/// `NAME check-config …` validates a configuration and prints it, `--help` lists every key,
/// `--version` prints the version. Exit status 2 is a configuration error and nothing else.
public struct DaemonCommand<Daemon: DaemonDefinition>: AsyncParsableCommand {
    /// The command, its default subcommand `run`, and the key list `--help` shows.
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: Daemon.name,
            abstract: Daemon.abstract,
            discussion: DaemonCommandLine.keyList { reader throws(ConfigurationError) in try Daemon.readConfiguration(reader) },
            version: TelemetryVersion.current,
            subcommands: [Run.self, CheckConfig.self],
            defaultSubcommand: Run.self)
    }

    /// Creates the command (ArgumentParser's requirement).
    public init() {}

    /// `run`, the default: runs the daemon until SIGTERM or SIGINT.
    struct Run: AsyncParsableCommand {
        static var configuration: CommandConfiguration { CommandConfiguration(commandName: "run", abstract: "Run the daemon (the default).") }

        @OptionGroup var options: DaemonOptions<Daemon>

        func run() async throws {
            let arguments = options.arguments
            await DaemonExit.run { () async throws(DaemonExit) in try await Daemon.main(arguments: arguments) }
        }
    }

    /// `check-config`: reads the configuration as a start would, prints the effective values
    /// (secrets masked) and exits 0, or prints the problem and exits 2.
    struct CheckConfig: AsyncParsableCommand {
        static var configuration: CommandConfiguration {
            CommandConfiguration(commandName: "check-config", abstract: "Validate a configuration and print the effective values (secrets masked).")
        }

        @OptionGroup var options: DaemonOptions<Daemon>

        func run() async throws {
            do {
                print(try await DaemonCommandLine.check(arguments: options.arguments) { reader in try Daemon.readConfiguration(reader) })
            } catch {
                DaemonCommandLine.printError("\(Daemon.name): \(error)")
                throw ExitCode(2)
            }
        }
    }
}

/// `--config PATH` and the flags that set configuration keys, passed on to the configuration
/// reader (`--redis-port 6379` sets `redis.port`).
struct DaemonOptions<Daemon: DaemonDefinition>: ParsableArguments {
    @Option(help: ArgumentHelp("A YAML configuration file (\(Daemon.exampleConfiguration) shows every section)."))
    var config: String?

    @Argument(parsing: .allUnrecognized, help: "Flags that set configuration keys: --redis-port 6379 sets redis.port.")
    var overrides: [String] = []

    /// What the configuration reader sees: the program name, `--config PATH`, the flags.
    var arguments: [String] { DaemonCommandLine.arguments(program: Daemon.name, config: config, overrides: overrides) }

    /// A word before the first flag belongs to no key: the configuration reader would drop it,
    /// so `check-config hub.yaml` (without `--config`) would check nothing.
    func validate() throws {
        if let stray = overrides.first, !stray.hasPrefix("--") {
            throw ValidationError("unexpected argument '\(stray)': configuration is set with --config PATH or --key value flags")
        }
    }
}

/// What every daemon reads for its operating surface: the HTTP endpoints (section `http`) and
/// the control socket (section `control`).
public struct DaemonSurfaceSettings: Sendable {
    /// Where `/health`, `/ready` and `/metrics` are served.
    public var http: HTTPConfiguration
    /// Where the control socket is.
    public var control: ControlSocketConfiguration

    /// Reads both sections; `name` (`hub`, `processor`) names the socket file, `defaultPort` is
    /// the HTTP port when `http.port` is not set.
    public init(reader: ConfigReader, name: String, defaultPort: Int) throws(ConfigurationError) {
        http = try reader.section("http") { reader throws(ConfigurationError) in try HTTPConfiguration(reader: reader, defaultPort: defaultPort) }
        control = try reader.section("control") { reader throws(ConfigurationError) in try ControlSocketConfiguration(reader: reader, name: name) }
    }
}
