public import Configuration
public import Supervision

extension RestartPolicy {
    /// Reads section `supervisor`: `max_restarts` (default 5) within `period_s` (default 60)
    /// escalate; backoff from `backoff_initial_ms` (100) doubling up to `backoff_max_ms` (10 000).
    ///
    /// ```swift
    /// let policy = try config.section("supervisor", RestartPolicy.init(reader:))
    /// ```
    public init(reader config: ConfigReader) throws(ConfigurationError) {
        let initial = try config.strictInt("backoff_initial_ms", default: 100, in: 1...600_000)
        let maximum = try config.strictInt("backoff_max_ms", default: 10_000, in: 1...3_600_000)
        guard maximum >= initial else {
            throw ConfigurationError(key: "backoff_max_ms", "\(maximum) is below backoff_initial_ms (\(initial))")
        }
        self.init(initialBackoffMillis: Int64(initial), maxBackoffMillis: Int64(maximum),
                  maxRestarts: try config.strictInt("max_restarts", default: 5, in: 0...10_000),
                  periodMillis: Int64(try config.strictInt("period_s", default: 60, in: 1...86_400)) * 1000)
    }
}
