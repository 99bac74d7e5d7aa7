public import TelemetryCore

/// An alert to record with a batch (one row per firing).
public struct AlertRecord: Sendable, Equatable {
    /// Index into the batch's device names.
    public var device: Int
    /// Index into the batch's metric names.
    public var metric: Int
    public var timestampMicros: Int64
    public var value: Double
    public var rule: String
    public var severity: String

    public init(device: Int, metric: Int, timestampMicros: Int64, value: Double, rule: String, severity: String) {
        self.device = device
        self.metric = metric
        self.timestampMicros = timestampMicros
        self.value = value
        self.rule = rule
        self.severity = severity
    }
}

/// What one transaction writes: the batch's valid samples (indexes into its name tables) and
/// the alerts they fired.
public struct StorageBatch: Sendable {
    /// The idempotency key: the hub's batch id or the task id.
    public var id: String
    public let deviceNames: [String]
    public let metricNames: [String]
    public let samples: [Sample]
    public var alerts: [AlertRecord]
    /// The samples' series, numbered once here for the analysis and the storage.
    public let series: BatchSeries

    public init(id: String, deviceNames: [String], metricNames: [String], samples: [Sample], alerts: [AlertRecord] = []) {
        self.id = id
        self.deviceNames = deviceNames
        self.metricNames = metricNames
        self.samples = samples
        self.alerts = alerts
        series = BatchSeries(samples: samples, deviceNames: deviceNames, metricNames: metricNames)
    }
}

/// What a write did.
public struct StorageOutcome: Sendable, Equatable {
    /// The batch id was already committed: nothing was written.
    public var duplicateBatch: Bool
    /// Samples inserted into `samples`.
    public var inserted: Int
    /// Samples already stored under the same key (skipped).
    public var duplicates: Int
    /// Of those, how many carried a different value (the first value is kept).
    public var conflictingValues: Int
    public var alertsInserted: Int

    public init(duplicateBatch: Bool, inserted: Int, duplicates: Int, conflictingValues: Int, alertsInserted: Int) {
        self.duplicateBatch = duplicateBatch
        self.inserted = inserted
        self.duplicates = duplicates
        self.conflictingValues = conflictingValues
        self.alertsInserted = alertsInserted
    }
}
