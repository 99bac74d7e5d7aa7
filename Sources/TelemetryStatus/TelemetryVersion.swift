/// The version of the daemons and `telemetryctl` (`--version`), kept in step with CHANGELOG.md.
public enum TelemetryVersion {
    /// Semantic version of this tree.
    public static let current = "0.16.0"
}
