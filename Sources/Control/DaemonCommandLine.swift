public import Configuration
import Foundation
public import TelemetryConfiguration

/// What the daemons' command lines share (`--help`'s key list, `check-config`): both read the
/// daemon's whole configuration through the `read` they are given and look at the keys it read.
public enum DaemonCommandLine {
    /// Every key the daemon reads, with its environment name and default, one per line, for
    /// `--help`: read over an empty configuration, so what shows is the code's defaults.
    public static func keyList(_ read: (ConfigReader) throws -> Void) -> String {
        let empty = ConfigReader(provider: InMemoryProvider(values: [:]))
        let keys = (try? ConfigKeyCatalog.recording { try read(empty); _ = try DaemonRuntime.logLevel(empty); _ = try DaemonRuntime.logFormat(empty) })?.1 ?? []
        let lines = keys.map { key in "  \(key.key) = \(display(key.defaultValue))  [\(key.environmentName)]" }
        return "Every configuration key, with its default and [environment variable]. A flag sets a key too "
            + "(--redis-port 6379 sets redis.port); flags beat the environment, which beats the --config file, "
            + "which beats the default. A file key that no component reads is an error. buses.<name>.* are read "
            + "for each bus in buses.names (Docs/buses.md). check-config shows what each value must be.\n\n"
            + lines.joined(separator: "\n")
    }

    /// `check-config`: reads the configuration as the daemon would at start (flags, environment,
    /// the `--config` file in `arguments`), refuses unknown file keys, and returns the effective
    /// configuration, one `key = value` line each, secrets masked. Throws the first problem.
    public static func check<T: Sendable>(arguments: [String], _ read: @escaping @Sendable (ConfigReader) throws -> T) async throws -> String {
        try await checkedKeys(arguments: arguments, read).map { key in
            let value = key.isSecret && !key.value.isEmpty ? "********" : display(key.value)
            let origin = key.value == key.defaultValue ? "" : ", default \(key.isSecret ? "masked" : display(key.defaultValue))"
            return "\(key.key) = \(value)   (\(key.expected)\(origin))"
        }.joined(separator: "\n")
    }

    /// Every key the daemon reads with its effective value, after the checks ``check(arguments:_:)``
    /// makes; throws the first problem. Secrets are not masked here (``ConfigKeyInfo/isSecret``).
    public static func checkedKeys<T: Sendable>(arguments: [String], _ read: @escaping @Sendable (ConfigReader) throws -> T) async throws -> [ConfigKeyInfo] {
        let (_, keys) = try await DaemonRuntime.readConfigurationRecording(arguments: arguments, read)
        try DaemonRuntime.checkKeys(known: keys, arguments: arguments)
        return keys
    }

    /// The arguments the configuration reader sees: the program name, `--config PATH` when given,
    /// and the overriding flags (`--redis-port 6379`).
    public static func arguments(program: String, config: String?, overrides: [String]) -> [String] {
        [program] + (config.map { ["--config", $0] } ?? []) + overrides
    }

    /// Writes `message` and a newline to stderr.
    public static func printError(_ message: String) {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
    }

    static func display(_ value: String) -> String { value.isEmpty ? "(none)" : value }
}
