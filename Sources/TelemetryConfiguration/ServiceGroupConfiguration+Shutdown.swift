public import ServiceLifecycle

extension ServiceGroupConfiguration {
    /// The configuration with the graceful-shutdown budget set (`shutdown.timeout_s`).
    public func withMaximumGracefulShutdown(seconds: Int) -> Self {
        var copy = self
        copy.maximumGracefulShutdownDuration = .seconds(seconds)
        return copy
    }
}
