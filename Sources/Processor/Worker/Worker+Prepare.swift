import Postgres
import Redis
import TelemetryCore
import TelemetryConfiguration

/// Decoding and validation of a work item into what storage writes, and the dead-letter payload
/// of refused samples.
extension Worker {
    struct Prepared {
        var batch: StorageBatch
        var plan: AnalysisPlan
        var maxRetries: Int
        var rejection: (error: TelemetryError, payload: [UInt8])?
        /// Samples validation refused (split off into `rejection`).
        var rejectedSamples = 0
        /// Each refused sample's device, metric and reason, for the data quality counts.
        var rejectedDetail: [QualityRejections.Key] = []
    }

    /// Decodes and validates; invalid samples are split off for the dead letters.
    func prepare(_ item: WorkItem) -> Result<Prepared, TelemetryError> {
        Self.prepare(item, configuration: configuration, faults: faults)
    }

    /// ``prepare(_:)`` for callers without a worker (`telemetryctl replay`), judging timestamps
    /// against `nowMicros` (a replay passes the time the entry was written, as its worker did).
    static func prepare(_ item: WorkItem, configuration: ProcessorConfiguration, faults: FaultSwitches,
                        nowMicros: Int64? = nil) -> Result<Prepared, TelemetryError> {
        let now = nowMicros ?? wallClockMicros()
        switch item.payload {
        case .undecodable(let error, _, _):
            return .failure(error)
        case .hubBatch(let version, let bytes):
            guard bytes.count <= Self.maxBatchBytes else {
                return .failure(TelemetryError(.tooLarge, "stream entry of \(bytes.count) bytes exceeds \(Self.maxBatchBytes)"))
            }
            if let version, UInt8(version).map({ HubBatchCodec.supportedVersions.contains($0) }) != true {
                return .failure(TelemetryError(.unsupportedVersion, "stream entry version \(version) is not supported"))
            }
            let decoded: HubBatch
            do { decoded = try HubBatchCodec.decode(bytes) } catch { return .failure(error) }
            faults.crashIfNamed(decoded.devices)
            guard !decoded.id.isEmpty, decoded.id.utf8.count <= 256, !ValidationPolicy.containsControlCharacters(decoded.id) else {
                return .failure(TelemetryError(.invalidField, "batch id \(PrintableName(decoded.id)) is empty, longer than 256 bytes or holds control characters"))
            }
            guard decoded.tenant.isEmpty || TenantDirectory.isValidName(decoded.tenant) else {
                return .failure(TelemetryError(.invalidField, "batch \(PrintableName(decoded.id)) names tenant \(PrintableName(decoded.tenant)), not a usable tenant name"))
            }
            var valid: [Sample] = []
            valid.reserveCapacity(decoded.samples.count)
            var invalid: [(Sample, TelemetryError)] = []
            // Names are checked once per table entry, not per sample: a control character (a NUL
            // would be cut by libpq) refuses the samples naming it, never their neighbours.
            let badDevices = Set(decoded.devices.indices.filter { ValidationPolicy.containsControlCharacters(decoded.devices[$0]) })
            let badMetrics = Set(decoded.metrics.indices.filter { ValidationPolicy.containsControlCharacters(decoded.metrics[$0]) })
            let anyBadName = !badDevices.isEmpty || !badMetrics.isEmpty
            for sample in decoded.samples {
                if anyBadName, badDevices.contains(Int(sample.deviceIndex)) || badMetrics.contains(Int(sample.metricIndex)) {
                    let name = badDevices.contains(Int(sample.deviceIndex)) ? "device id \(PrintableName(decoded.devices[Int(sample.deviceIndex)]))"
                        : "metric name \(PrintableName(decoded.metrics[Int(sample.metricIndex)]))"
                    invalid.append((sample, TelemetryError(.invalidField, "\(name) contains control characters")))
                } else if let violation = configuration.validation.violation(metric: decoded.metrics[Int(sample.metricIndex)],
                                                                      timestampMicros: sample.timestampMicros, value: sample.value, nowMicros: now) {
                    invalid.append((sample, violation))
                } else {
                    valid.append(sample)
                }
            }
            let tenant = configuration.tenants.normalized(decoded.tenant.isEmpty ? nil : decoded.tenant)
            var rejection: (TelemetryError, [UInt8])?
            if let first = invalid.first {
                rejection = (TelemetryError(first.1.code, "\(invalid.count) of \(decoded.samples.count) samples of batch \(decoded.id) rejected; first: \(first.1.message)"),
                             Self.rejectionLines(invalid.map { ($0.0, $0.1.code) }, tenant: tenant, devices: decoded.devices, metrics: decoded.metrics))
            }
            var batch = StorageBatch(id: decoded.id, namespace: .hub, digest: ContentDigest.hubBatch(bytes), tenant: tenant,
                                     deviceNames: decoded.devices, metricNames: decoded.metrics, samples: valid)
            // Labels meet the samples' rules: a readable device and name, and a reading time
            // within the validation window (a label stamped far ahead would freeze the device's labels).
            batch.labels = decoded.labels.filter { label in
                !badDevices.contains(Int(label.deviceIndex)) && !ValidationPolicy.containsControlCharacters(label.label.key)
                    && !label.label.value.utf8.contains(0)
                    && configuration.validation.violation(metric: "", timestampMicros: label.timestampMicros, value: 0, nowMicros: now) == nil
            }
            if case .stream(let shard, let entryID) = item.source, let id = StreamID(entryID) {
                batch.position = StreamPosition(stream: configuration.redis.keys.stream(shard), id: id)
            }
            return .success(Prepared(
                batch: batch,
                plan: AnalysisPlan(kind: .analyze), maxRetries: configuration.retry.maxRetries, rejection: rejection, rejectedSamples: invalid.count,
                rejectedDetail: invalid.map { QualityRejections.Key(device: decoded.devices[Int($0.0.deviceIndex)], metric: decoded.metrics[Int($0.0.metricIndex)],
                                                                    reason: $0.1.code.description) }))
        case .task(let task):
            faults.crashIfNamed([task.deviceID])
            // The decoder bounds the fields (validation.max_fields); a sample's metric index is u16.
            guard task.metrics.count <= min(configuration.validation.maxFields, HubBatchCodec.maxTableEntries) else {
                return .failure(TelemetryError(.tooLarge, "task \(task.id) has \(task.metrics.count) numeric fields, more than \(configuration.validation.maxFields) (validation.max_fields)"))
            }
            var valid: [Sample] = []
            var names: [String] = []
            var firstViolation: TelemetryError?
            var rejected = 0
            var detail: [QualityRejections.Key] = []
            for metric in task.metrics {
                if let violation = configuration.validation.violation(metric: metric.name, timestampMicros: task.timestampMicros,
                                                                      value: metric.value, nowMicros: now) {
                    firstViolation = firstViolation ?? violation
                    rejected += 1
                    detail.append(QualityRejections.Key(device: task.deviceID, metric: metric.name, reason: violation.code.description))
                    continue
                }
                valid.append(Sample(deviceIndex: 0, metricIndex: UInt16(names.count), timestampMicros: task.timestampMicros, value: metric.value))
                names.append(metric.name)
            }
            var rejection: (TelemetryError, [UInt8])?
            if let firstViolation, case .compat(let raw) = item.source {
                rejection = (TelemetryError(firstViolation.code, "\(rejected) of \(task.metrics.count) fields of task \(task.id) rejected: \(firstViolation.message)"), raw)
            }
            return .success(Prepared(
                batch: StorageBatch(id: task.id, namespace: .task, digest: ContentDigest.task(task),
                                    deviceNames: [task.deviceID], metricNames: names, samples: valid),
                plan: AnalysisPlan(kind: task.kind), maxRetries: task.maxRetries ?? configuration.retry.maxRetries, rejection: rejection,
                rejectedSamples: rejected, rejectedDetail: detail))
        }
    }

    /// One NDJSON line per refused sample (device, metric, timestamp, value, reason): the payload
    /// of a dead letter for samples split off their batch.
    static func rejectionLines(_ samples: [(Sample, TelemetryError.Code)], tenant: String? = nil, devices: [String], metrics: [String]) -> [UInt8] {
        RejectedSample.payload(samples.map { sample, code in
            RejectedSample(deviceID: devices[Int(sample.deviceIndex)], metric: metrics[Int(sample.metricIndex)],
                           timestampMicros: sample.timestampMicros, value: sample.value, reason: code.description, tenant: tenant)
        })
    }
}
