import Logging
import Postgres
import Redis
public import TelemetryCore

/// Acknowledges finished work: `XACK` for stream entries, `LREM` from the processing list for
/// compatibility tasks. Runs on its own Redis connection (the reader's blocks in `XREADGROUP`).
public struct Acknowledger: Sendable {
    let redis: RedisClient
    let keys: RedisKeys
    let group: String
    let consumer: String

    public init(redis: RedisClient, keys: RedisKeys, group: String, consumer: String) {
        self.redis = redis
        self.keys = keys
        self.group = group
        self.consumer = consumer
    }

    /// Acknowledges `source`, retrying through a Redis outage.
    public func acknowledge(_ source: WorkItem.Source, logger: Logger) async {
        let command: RedisCommand
        switch source {
        case .stream(let shard, let entryID):
            command = ["XACK", keys.stream(shard), group, entryID]
        case .compat(let raw):
            var c: RedisCommand = ["LREM", keys.processing(consumer), "1"]
            c.append(bytes: raw)
            command = c
        }
        _ = await redis.sendRetrying(command) { error, _ in
            logger.warning("acknowledgement failed, retrying", metadata: ["error": "\(error)"])
        }
    }
}

/// One worker of the pool: owns the analysis state of the devices routed to it, and processes
/// its items strictly in order (per-device order is kept).
struct Worker {
    /// Largest hub batch accepted from a stream entry.
    static let maxBatchBytes = 64 << 20
    let index: Int
    let queue: BoundedBuffer<WorkItem>
    let storage: StorageActor
    let acknowledger: Acknowledger
    let deadLetters: DeadLetterWriter
    let retries: RetryLedger
    let faults: FaultSwitches
    let heartbeat: StageHeartbeat
    let counters: ProcessorCounters
    let configuration: ProcessorConfiguration
    let slot: WorkerSlot
    let settings: Reloadable<AnalysisSettings>
    var settingsGeneration: Int
    /// Carries the current item's `batch_id` / `task_id` and `shard`, so its log lines can be followed.
    var logger: Logger
    var analyzer: Analyzer

    init(index: Int, queue: BoundedBuffer<WorkItem>, storage: StorageActor, acknowledger: Acknowledger,
         deadLetters: DeadLetterWriter, retries: RetryLedger, faults: FaultSwitches, heartbeat: StageHeartbeat,
         counters: ProcessorCounters, configuration: ProcessorConfiguration, slot: WorkerSlot, settings: Reloadable<AnalysisSettings>, logger: Logger) {
        self.slot = slot
        self.settings = settings
        settingsGeneration = settings.generation
        self.heartbeat = heartbeat
        self.retries = retries
        self.faults = faults
        self.index = index
        self.queue = queue
        self.storage = storage
        self.acknowledger = acknowledger
        self.deadLetters = deadLetters
        self.counters = counters
        self.configuration = configuration
        self.logger = logger
        analyzer = slot.takeAnalyzer() ?? Analyzer(settings: settings.value)
        analyzer.apply(settings.value)
    }

    /// Processes items until the queue is finished and drained. A restarted worker first
    /// re-processes the item its predecessor held (it is still pending in Redis; storage is
    /// idempotent by batch id, so a batch committed before the failure is only acknowledged).
    mutating func run() async throws {
        defer { slot.keep(analyzer) }
        heartbeat.idle()
        if let held = slot.held {
            logger.warning("re-processing the item held when this worker failed", metadata: ["source": "\(held.sourceName)"])
            heartbeat.beat()
            try await handle(held)  // still held: a second failure keeps it, and its rejection state
            slot.hold(nil)
            heartbeat.idle()
        }
        while let items = await queue.next(max: 1) {
            heartbeat.beat()
            for item in items { try await process(item) }
            heartbeat.idle()
        }
    }

    /// Processes one item; it stays in the slot until it is acknowledged.
    mutating func process(_ item: WorkItem) async throws {
        if settings.generation != settingsGeneration {
            settingsGeneration = settings.generation
            analyzer.apply(settings.value)
        }
        slot.hold(item)
        try await handle(item)
        slot.hold(nil)
    }

    private mutating func handle(_ item: WorkItem) async throws {
        logger[metadataKey: "batch_id"] = nil
        logger[metadataKey: "task_id"] = nil
        switch (item.source, item.payload) {
        case (.stream(let shard, let entryID), _):
            logger[metadataKey: "shard"] = "\(shard)"
            logger[metadataKey: "entry_id"] = "\(entryID)"
        case (.compat, .task(let task)):
            logger[metadataKey: "shard"] = nil
            logger[metadataKey: "entry_id"] = nil
            logger[metadataKey: "task_id"] = "\(task.id)"
            logger[metadataKey: "device_id"] = "\(task.deviceID)"
        case (.compat, _):
            logger[metadataKey: "shard"] = nil
            logger[metadataKey: "entry_id"] = nil
        }
        let prepared: Prepared
        switch prepare(item) {
        case .success(let p): prepared = p
        case .failure(let error):
            await deadLetter(item, error: error, attempts: 1, firstFailure: wallClockMicros() / 1000, payload: rawPayload(item))
            await heartbeat.waiting { await acknowledger.acknowledge(item.source, logger: logger) }
            counters.countTask(item.typeName) { $0.failed += 1 }
            counters.itemsCompleted.add(1, ordering: .relaxed)
            return
        }
        var batch = prepared.batch
        if case .stream = item.source { logger[metadataKey: "batch_id"] = "\(batch.id)" }
        logger.debug("processing", metadata: ["samples": "\(batch.samples.count)"])
        if let rejection = prepared.rejection, !slot.rejectionWritten {
            await deadLetter(item, error: rejection.error, attempts: 1, firstFailure: wallClockMicros() / 1000, payload: rejection.payload)
            // A restarted worker re-processing this item does not write the rejection twice.
            slot.markRejectionWritten()
        }
        if !batch.samples.isEmpty {
            let analysis = analyzer.analyze(batch.samples, devices: batch.deviceNames, metrics: batch.metricNames, plan: prepared.plan)
            batch.alerts = analysis.alerts
            guard try await store(batch, item: item, maxRetries: prepared.maxRetries) else {
                counters.countTask(item.typeName) { $0.failed += 1 }
                counters.itemsCompleted.add(1, ordering: .relaxed)
                return
            }
            try faults.workerCheckpoint()
            analyzer.commit(analysis)
            counters.record(statistics: analysis.statistics)
        }
        await heartbeat.waiting { await acknowledger.acknowledge(item.source, logger: logger) }
        counters.countTask(item.typeName) { $0.processed += 1 }
        counters.itemsCompleted.add(1, ordering: .relaxed)
    }

    struct Prepared {
        var batch: StorageBatch
        var plan: AnalysisPlan
        var maxRetries: Int
        var rejection: (error: TelemetryError, payload: [UInt8])?
    }

    /// Decodes and validates; invalid samples are split off for the dead letters.
    func prepare(_ item: WorkItem) -> Result<Prepared, TelemetryError> {
        let now = wallClockMicros()
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
            var valid: [Sample] = []
            valid.reserveCapacity(decoded.samples.count)
            var invalid: [(Sample, TelemetryError)] = []
            for sample in decoded.samples {
                if let violation = configuration.validation.violation(metric: decoded.metrics[Int(sample.metricIndex)],
                                                                      timestampMicros: sample.timestampMicros, value: sample.value, nowMicros: now) {
                    invalid.append((sample, violation))
                } else {
                    valid.append(sample)
                }
            }
            var rejection: (TelemetryError, [UInt8])?
            if let first = invalid.first {
                var lines = ""
                for (sample, error) in invalid {
                    lines += "{\"device_id\":\(PostgresText.jsonString(decoded.devices[Int(sample.deviceIndex)])),"
                        + "\"metric\":\(PostgresText.jsonString(decoded.metrics[Int(sample.metricIndex)])),"
                        + "\"timestamp\":\"\(Timestamp.formatRFC3339(micros: sample.timestampMicros))\","
                        + "\"value\":\(sample.value.isFinite ? "\(sample.value)" : "null"),\"reason\":\"\(error.code)\"}\n"
                }
                rejection = (TelemetryError(first.1.code, "\(invalid.count) of \(decoded.samples.count) samples of batch \(decoded.id) rejected; first: \(first.1.message)"),
                             Array(lines.utf8))
            }
            return .success(Prepared(
                batch: StorageBatch(id: decoded.id, deviceNames: decoded.devices, metricNames: decoded.metrics, samples: valid),
                plan: AnalysisPlan(kind: .analyze), maxRetries: configuration.maxRetries, rejection: rejection))
        case .task(let task):
            var valid: [Sample] = []
            var names: [String] = []
            var firstViolation: TelemetryError?
            var rejected = 0
            for metric in task.metrics {
                if let violation = configuration.validation.violation(metric: metric.name, timestampMicros: task.timestampMicros,
                                                                      value: metric.value, nowMicros: now) {
                    firstViolation = firstViolation ?? violation
                    rejected += 1
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
                batch: StorageBatch(id: task.id, deviceNames: [task.deviceID], metricNames: names, samples: valid),
                plan: AnalysisPlan(kind: task.kind), maxRetries: task.maxRetries ?? configuration.maxRetries, rejection: rejection))
        }
    }

    /// Writes the batch. An outage (connection errors) waits and retries without spending an
    /// attempt; any other failure is retried `maxRetries` times with exponential backoff and full
    /// jitter, then dead-lettered. The retry state is kept in the ``RetryLedger`` so a restart
    /// neither resets the count nor retries early. Returns false when the item was dead-lettered
    /// (and acknowledged).
    func store(_ batch: StorageBatch, item: WorkItem, maxRetries: Int) async throws -> Bool {
        let ledgerKey = item.retryKey(batchID: batch.id)
        var state = await heartbeat.waiting { await retries.load(ledgerKey) }
        var outageBackoff = Duration.milliseconds(100)
        while true {
            // Cancelled (the supervisor escalating): stop; the item stays pending in Redis.
            try Task.checkCancellation()
            heartbeat.beat()
            let now = wallClockMicros() / 1000
            if state.nextAttemptMillis > now {
                try? await Task.sleep(for: .milliseconds(state.nextAttemptMillis - now))
            }
            do {
                let started = ContinuousClock.now
                let outcome = try await storage.write(batch)
                let elapsed = ContinuousClock.now - started
                counters.copyDuration.observe(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
                counters.copyRows.add(outcome.inserted, ordering: .relaxed)
                if outcome.inserted > 0 {
                    let committedAt = wallClockMicros()
                    counters.endToEndLatency.observe(batch.samples.lazy.map { Double(committedAt - $0.timestampMicros) * 1e-6 })
                }
                if outcome.duplicateBatch {
                    counters.duplicateBatches.add(1, ordering: .relaxed)
                    logger.info("batch already committed, acknowledging again", metadata: ["batch_id": "\(batch.id)"])
                }
                counters.samplesStored.add(outcome.inserted, ordering: .relaxed)
                counters.duplicateSamples.add(outcome.duplicates, ordering: .relaxed)
                counters.conflictingValues.add(outcome.conflictingValues, ordering: .relaxed)
                counters.alerts.add(outcome.alertsInserted, ordering: .relaxed)
                if state.failures > 0 { await heartbeat.waiting { await retries.clear(ledgerKey) } }
                faults.committed()
                return true
            } catch where error.isConnectionError {
                counters.outageWaits.add(1, ordering: .relaxed)
                logger.warning("postgres unavailable, pausing", metadata: ["error": "\(error)", "retry_in": "\(outageBackoff)"])
                try? await Task.sleep(for: outageBackoff)
                outageBackoff = min(outageBackoff * 2, .seconds(5))
            } catch {
                let failedAt = wallClockMicros() / 1000
                state.failures += 1
                if state.firstFailureMillis == 0 { state.firstFailureMillis = failedAt }
                if state.failures > maxRetries {
                    await deadLetter(item, error: TelemetryError(.retriesExhausted, "\(error)"), attempts: state.failures,
                                     firstFailure: state.firstFailureMillis, payload: rawPayload(item))
                    await heartbeat.waiting { await retries.clear(ledgerKey) }
                    await heartbeat.waiting { await acknowledger.acknowledge(item.source, logger: logger) }
                    return false
                }
                counters.retries.add(1, ordering: .relaxed)
                counters.countTask(item.typeName) { $0.retried += 1 }
                let cap = min(Double(configuration.retryMaxMillis), Double(configuration.retryBaseMillis) * pow2(state.failures - 1))
                state.nextAttemptMillis = failedAt + Int64(Double.random(in: 0...cap))
                await heartbeat.waiting { await retries.save(ledgerKey, state) }
                logger.warning("write failed, will retry", metadata: [
                    "batch_id": "\(batch.id)", "failures": "\(state.failures)", "max_retries": "\(maxRetries)",
                    "next_attempt_ms": "\(state.nextAttemptMillis)", "error": "\(error)"])
            }
        }
    }

    private func pow2(_ n: Int) -> Double { Double(1 << min(n, 30)) }

    private func rawPayload(_ item: WorkItem) -> [UInt8] {
        switch (item.source, item.payload) {
        case (.compat(let raw), _): raw
        case (_, .hubBatch(_, let bytes)): bytes
        case (_, .undecodable(_, let raw, _)): raw
        case (_, .task): []
        }
    }

    private func deadLetter(_ item: WorkItem, error: TelemetryError, attempts: Int, firstFailure: Int64, payload: [UInt8]) async {
        let sourceID: String?
        switch (item.source, item.payload) {
        case (_, .undecodable(_, _, let id)): sourceID = id
        case (_, .task(let task)): sourceID = task.id
        case (.stream(_, let entryID), _): sourceID = entryID
        default: sourceID = nil
        }
        await heartbeat.waiting { await deadLetters.write(error: error, attempts: attempts, firstFailureMillis: firstFailure, source: item.sourceName,
                                sourceID: sourceID, payload: payload) }
    }
}
