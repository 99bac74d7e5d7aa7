/// An invalid configuration value; start-up stops with this message, which names the key.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// The offending key, dotted as in the YAML file (`supervisor.max_restarts`).
    public let key: String
    /// What is wrong with its value, e.g. `0 is outside 1…256` or `is required`.
    public let message: String

    /// An error about `key`, explained by `message`.
    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    /// `invalid configuration for key '<key>': <message>`.
    public var description: String { "invalid configuration for key '\(key)': \(message)" }
}
