public import Configuration
public import Supervision

extension RestartPolicy {
    /// `supervisor.max_restarts` (default 5) within `supervisor.period_s` (default 60) escalate;
    /// backoff from `supervisor.backoff_initial_ms` (100) doubling up to `supervisor.backoff_max_ms`
    /// (10 000).
    public init(reader config: ConfigReader) throws(ConfigurationError) {
        let initial = try config.strictInt("supervisor.backoff_initial_ms", default: 100, in: 1...600_000)
        let maximum = try config.strictInt("supervisor.backoff_max_ms", default: 10_000, in: 1...3_600_000)
        guard maximum >= initial else {
            throw ConfigurationError(key: "supervisor.backoff_max_ms", "\(maximum) is below supervisor.backoff_initial_ms (\(initial))")
        }
        self.init(initialBackoffMillis: Int64(initial), maxBackoffMillis: Int64(maximum),
                  maxRestarts: try config.strictInt("supervisor.max_restarts", default: 5, in: 0...10_000),
                  periodMillis: Int64(try config.strictInt("supervisor.period_s", default: 60, in: 1...86_400)) * 1000)
    }
}
