import Redis
import TelemetryCore

/// An alert to record with a batch (one row per firing).
package struct AlertRecord: Sendable, Equatable {
    /// Index into the batch's device names.
    package var device: Int
    /// Index into the batch's metric names.
    package var metric: Int
    package var timestampMicros: Int64
    package var value: Double
    package var rule: String
    package var severity: String

    package init(device: Int, metric: Int, timestampMicros: Int64, value: Double, rule: String, severity: String) {
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
package struct StorageBatch: Sendable {
    /// The hub's batch id or the task id, as logged.
    package var id: String
    /// The idempotency key in `ingested_batches`: the id in its namespace (`hub:<batch id>` or
    /// `task:<task id>`), so a task id can never swallow a hub batch or the other way round.
    package var key: String
    /// A digest of the whole input (every sample, valid or not), so a reused id with other content
    /// is told apart from a redelivery of the same input.
    package var digest: Int64
    /// The tenant of the batch's devices (Docs/tenants.md); nil: the default tenant.
    package let tenant: String?
    package let deviceNames: [String]
    package let metricNames: [String]
    package let samples: [Sample]
    package var alerts: [AlertRecord]
    /// The samples' series, numbered once here for the analysis and the storage.
    package let series: BatchSeries
    /// The stream entry the batch came from (nil: a compatibility task), recorded in
    /// `stream_positions` by the transaction that commits it (Docs/high-availability.md).
    package var position: StreamPosition?
    /// Device labels (line-protocol tags and string fields) to record with the samples.
    package var labels: [BatchLabel] = []

    /// Where an id comes from; each source has its own idempotency namespace.
    package enum Namespace: String, Sendable {
        case hub, task
    }

    package init(id: String, namespace: Namespace = .hub, digest: Int64 = 0, tenant: String? = nil, deviceNames: [String], metricNames: [String],
                 samples: [Sample], alerts: [AlertRecord] = []) {
        self.id = id
        self.tenant = tenant
        key = "\(namespace.rawValue):\(id)"
        self.digest = digest
        self.deviceNames = deviceNames
        self.metricNames = metricNames
        self.samples = samples
        self.alerts = alerts
        series = BatchSeries(samples: samples, deviceNames: deviceNames, metricNames: metricNames)
    }
}

extension StorageBatch {
    /// The same batch (id, key, digest, name tables) holding only `samples`, without the alerts of
    /// the metrics at `droppedMetrics`.
    func keeping(_ samples: [Sample], droppingMetrics droppedMetrics: Set<Int>) -> StorageBatch {
        var batch = StorageBatch(id: id, tenant: tenant, deviceNames: deviceNames, metricNames: metricNames, samples: samples,
                                 alerts: alerts.filter { !droppedMetrics.contains($0.metric) })
        batch.key = key
        batch.digest = digest
        batch.position = position
        batch.labels = labels
        return batch
    }
}

extension StorageBatch {
    /// `samples[range]` as a batch of its own under the key `<key>#<lower>-<upper>` (a piece of a
    /// batch written in parts), with the alerts of those samples.
    func slice(_ range: Range<Int>) -> StorageBatch {
        let samples = Array(self.samples[range])
        let keys = Set(samples.map { [Int($0.deviceIndex), Int($0.metricIndex), Int($0.timestampMicros)] })
        var piece = StorageBatch(id: id, tenant: tenant, deviceNames: deviceNames, metricNames: metricNames, samples: samples,
                                 alerts: alerts.filter { keys.contains([$0.device, $0.metric, Int($0.timestampMicros)]) })
        piece.key = "\(key)#\(range.lowerBound)-\(range.upperBound)"
        piece.digest = digest
        // The labels go with the first piece.
        if range.lowerBound == 0 { piece.labels = labels }
        // No position: the entry is committed once every piece is (``StorageActor/recordIsolated(_:)``).
        return piece
    }
}

/// What a write did.
package struct StorageOutcome: Sendable, Equatable {
    /// The batch id was already committed: nothing was written.
    package var duplicateBatch: Bool
    /// Samples inserted into `samples`.
    package var inserted: Int
    /// Samples already stored under the same key (skipped).
    package var duplicates: Int
    /// Of those, how many carried a different value (the first value is kept).
    package var conflictingValues: Int
    package var alertsInserted: Int
    /// The id was already committed with other content: nothing was written (`duplicate_id`).
    package var reusedID = false
    /// Samples refused because their metric name would exceed `validation.max_metric_names`
    /// (indexes into the batch's tables), and those names.
    package var overCardinality: [Sample] = []
    package var refusedNames: [String] = []

    package init(duplicateBatch: Bool, inserted: Int, duplicates: Int, conflictingValues: Int, alertsInserted: Int) {
        self.duplicateBatch = duplicateBatch
        self.inserted = inserted
        self.duplicates = duplicates
        self.conflictingValues = conflictingValues
        self.alertsInserted = alertsInserted
    }
}

/// A device as the processor names it: its tenant (nil: the default tenant) and its name.
package struct DeviceKey: Hashable, Sendable {
    package var tenant: String?
    package var name: String

    package init(tenant: String?, name: String) {
        self.tenant = tenant
        self.name = name
    }
}

/// A stream entry as `stream_positions` records it: the stream's key and the entry's id.
package struct StreamPosition: Sendable, Equatable {
    package var stream: String
    package var id: StreamID

    package init(stream: String, id: StreamID) {
        self.stream = stream
        self.id = id
    }

    /// The furthest position of each stream among `positions`, in stream order.
    package static func furthest(_ positions: [StreamPosition]) -> [StreamPosition] {
        var furthest: [String: StreamID] = [:]
        for position in positions where furthest[position.stream].map({ $0 < position.id }) ?? true {
            furthest[position.stream] = position.id
        }
        return furthest.map { StreamPosition(stream: $0.key, id: $0.value) }.sorted { $0.stream < $1.stream }
    }
}
