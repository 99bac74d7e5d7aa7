/// An invalid configuration value; start-up stops with this message, which names the key.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let key: String
    public let message: String

    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "invalid configuration for key '\(key)': \(message)" }
}
