public import Configuration
import SystemPackage

/// Builds the provider hierarchy of Docs/architecture.md: flags > environment > file > defaults.
///
/// ```swift
/// let config = try await ConfigurationLoader.reader(arguments: CommandLine.arguments)
/// let workers = try config.strictInt("num_workers", default: 8, in: 1...256)   // --num_workers, NUM_WORKERS
/// ```
public enum ConfigurationLoader {
    /// The path given with `--config PATH` or `--config=PATH`, if any.
    public static func configPath(in arguments: [String]) -> String? {
        for (index, argument) in arguments.enumerated() {
            if argument == "--config", index + 1 < arguments.count { return arguments[index + 1] }
            if argument.hasPrefix("--config=") { return String(argument.dropFirst("--config=".count)) }
        }
        return nil
    }

    /// A reader over the command line, the environment and the YAML file named by `--config`
    /// (a missing or malformed file named explicitly is an error).
    public static func reader(arguments: [String], environment: [String: String]? = nil) async throws -> ConfigReader {
        var providers: [any ConfigProvider] = [CommandLineArgumentsProvider(arguments: arguments)]
        if let environment {
            providers.append(EnvironmentVariablesProvider(environmentVariables: environment))
        } else {
            providers.append(EnvironmentVariablesProvider())
        }
        if let path = configPath(in: arguments) {
            do {
                providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(path)))
            } catch {
                throw ConfigurationError(key: "config", "cannot read \(path): \(error)")
            }
        }
        return ConfigReader(providers: providers)
    }
}
