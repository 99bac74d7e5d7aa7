import Logging
import Postgres
import Redis
public import TelemetryCore
import Synchronization

/// Acknowledges finished work: `XACK` for stream entries, `LREM` from the processing list for
/// compatibility tasks. Runs on its own Redis connection (the reader's blocks in `XREADGROUP`).
///
/// Acknowledgements that arrive while a round trip is under way are sent together in the next
/// one (one `XACK` per stream carrying every id, pipelined with any `LREM`s), so the workers
/// never queue one round trip each behind each other.
public final class Acknowledger: Sendable {
    let redis: RedisClient
    let keys: RedisKeys
    let group: String
    let consumer: String
    let inFlight: InFlight

    private struct Intake {
        var waiting: [(sources: [WorkItem.Source], done: CheckedContinuation<Void, Never>)] = []
        var sending = false
    }

    private let intake = Mutex(Intake())

    public init(redis: RedisClient, keys: RedisKeys, group: String, consumer: String, inFlight: InFlight = InFlight()) {
        self.inFlight = inFlight
        self.redis = redis
        self.keys = keys
        self.group = group
        self.consumer = consumer
    }

    /// Acknowledges `source`, retrying through a Redis outage; returns once Redis took it.
    public func acknowledge(_ source: WorkItem.Source, logger: Logger) async {
        await acknowledge([source], logger: logger)
    }

    /// Acknowledges `sources` together.
    public func acknowledge(_ sources: [WorkItem.Source], logger: Logger) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let lead = intake.withLock { state -> Bool in
                state.waiting.append((sources, done))
                defer { state.sending = true }
                return !state.sending
            }
            if lead { Task { await self.send(logger: logger) } }
        }
    }

    /// Sends what waits, round trip after round trip, until nothing is left.
    private func send(logger: Logger) async {
        while true {
            let taken = intake.withLock { state -> [(sources: [WorkItem.Source], done: CheckedContinuation<Void, Never>)] in
                defer { state.waiting.removeAll(keepingCapacity: true) }
                if state.waiting.isEmpty { state.sending = false }
                return state.waiting
            }
            guard !taken.isEmpty else { return }
            var ids: [Int: [String]] = [:]
            var shardOrder: [Int] = []
            var commands: [RedisCommand] = []
            for source in taken.flatMap(\.sources) {
                switch source {
                case .stream(let shard, let entryID):
                    if ids[shard] == nil { shardOrder.append(shard) }
                    ids[shard, default: []].append(entryID)
                case .compat(let raw):
                    var command: RedisCommand = ["LREM", keys.processing(consumer), "1"]
                    command.append(bytes: raw)
                    commands.append(command)
                    commands.append(["HDEL", keys.deliveries, ConsumerActor.deliveryField(raw)])
                }
            }
            for shard in shardOrder {
                commands.append(RedisCommand(["XACK", keys.stream(shard), group] + ids[shard]!))
            }
            var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(5))
            while true {
                do {
                    let replies = try await redis.pipeline(commands)
                    if let failure = replies.first(where: { if case .error = $0 { true } else { false } }) {
                        redis.refusals?.beatOnce()
                        throw RedisError(.server, "acknowledgement refused: \(failure)")
                    }
                    redis.refusals?.idle()
                    break
                } catch {
                    let wait = backoff.next()
                    logger.warning("acknowledgement failed, retrying", metadata: ["error": "\(error)", "retry_in": "\(wait)"])
                    try? await Task.sleep(for: wait)
                }
            }
            inFlight.finished(taken.flatMap(\.sources))
            for (_, done) in taken { done.resume() }
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
    /// The logger without any item's metadata.
    let baseLogger: Logger
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
        baseLogger = logger
        analyzer = slot.takeAnalyzer() ?? Analyzer(settings: settings.value)
        analyzer.apply(settings.value)
    }

    /// Processes items until the queue is finished and drained. A restarted worker first
    /// re-processes the items its predecessor held (they are still pending in Redis; storage is
    /// idempotent by batch id, so a batch committed before the failure is only acknowledged).
    ///
    /// Whatever waits in the queue is taken at once (up to `worker.group_max` items): a run of
    /// clean batches is analysed in order and committed in one storage request, so under load a
    /// transaction carries several consecutive batches of the same devices (their aggregates and
    /// latest values are written once) while an idle pipeline still handles each item at once.
    mutating func run() async throws {
        defer { slot.keep(analyzer) }
        heartbeat.idle()
        let held = slot.held
        if let first = held.first {
            logger.warning("re-processing the items held when this worker failed",
                           metadata: ["source": "\(first.sourceName)", "items": "\(held.count)"])
            heartbeat.beat()
            try await handle(first)  // still held: a second failure keeps it, and its rejection state
            try await handleInOrder(held, from: 1)
            heartbeat.idle()
        }
        while let items = await queue.next(max: configuration.workerGroupMax) {
            heartbeat.beat()
            refreshSettings()
            slot.hold(items)
            try await handleInOrder(items, from: processGroup(items))
            heartbeat.idle()
        }
    }

    /// Handles `items[start...]` one at a time, each held (with those after it) until acknowledged.
    private mutating func handleInOrder(_ items: [WorkItem], from start: Int) async throws {
        for index in items.indices.dropFirst(start) {
            slot.hold(Array(items[index...]))
            try await handle(items[index])
        }
        slot.hold([])
    }

    private mutating func refreshSettings() {
        if settings.generation != settingsGeneration {
            settingsGeneration = settings.generation
            analyzer.apply(settings.value)
        }
    }

    /// Commits the leading run of clean items (decodable, every sample valid) of `items` in one
    /// storage request; returns how many it finished. Returns 0, leaving every item to
    /// ``handle(_:)`` one at a time, when the run is shorter than two items or the request failed
    /// for any reason but an outage (the single path then retries and dead-letters per item).
    private mutating func processGroup(_ items: [WorkItem]) async throws -> Int {
        guard items.count > 1 else { return 0 }
        var batches: [StorageBatch] = []
        var plans: [AnalysisPlan] = []
        for item in items {
            guard case .success(let prepared) = prepare(item), prepared.rejection == nil, !prepared.batch.samples.isEmpty else { break }
            batches.append(prepared.batch)
            plans.append(prepared.plan)
        }
        guard batches.count > 1 else { return 0 }
        let group = items.prefix(batches.count)
        // Analyse in order on a copy: the worker's state moves on only once the group is committed.
        var trial = analyzer
        var statistics: [[String: SeriesStatistics]] = []
        for index in batches.indices {
            let analysis = trial.analyze(batches[index].samples, devices: batches[index].deviceNames,
                                         metrics: batches[index].metricNames, plan: plans[index], series: batches[index].series)
            batches[index].alerts = analysis.alerts
            statistics.append(analysis.statistics)
            trial.commit(analysis)
        }
        if logger.logLevel <= .debug {
            for (item, batch) in zip(group, batches) {
                itemLogger(item, batchID: batch.id).debug("processing", metadata: ["samples": "\(batch.samples.count)", "group": "\(batches.count)"])
            }
        }
        logger = baseLogger  // the group's lines name no single item
        guard let outcomes = try await storeGroup(batches) else { return 0 }
        try faults.workerCheckpoint()
        analyzer = trial
        var refused = Set<Int>()
        for (index, outcome) in outcomes.enumerated() {
            record(outcome, batch: batches[index])
            counters.record(statistics: statistics[index])
            if outcome.reusedID || !outcome.overCardinality.isEmpty,
               await !deadLetterRefusals(outcome, batch: batches[index], item: group[group.startIndex + index]) {
                refused.insert(index)
            }
        }
        await heartbeat.waiting { await acknowledger.acknowledge(group.map(\.source), logger: logger) }
        for (index, item) in group.enumerated() {
            counters.countTask(item.typeName) { if refused.contains(index) { $0.failed += 1 } else { $0.processed += 1 } }
            counters.itemsCompleted.add(1, ordering: .relaxed)
        }
        return group.count
    }

    /// One storage request for the whole group, waiting through outages; nil on any other failure.
    private func storeGroup(_ batches: [StorageBatch]) async throws -> [StorageOutcome]? {
        switch try await writeThroughOutages(batches: batches.count, { () async throws(PostgresError) in try await storage.write(batches) }) {
        case .success(let outcomes):
            return outcomes
        case .failure(let error):
            logger.warning("a group write failed; writing its items one at a time",
                           metadata: ["items": "\(batches.count)", "error": "\(error)"])
            return nil
        }
    }

    /// Runs one storage write, waiting through PostgreSQL outages (connection errors spend no
    /// attempt) and observing the time each of its `batches` spent in storage; returns any other
    /// failure. Cancellation (the supervisor escalating) stops it: the items stay pending in Redis.
    private func writeThroughOutages<T>(batches: Int, _ write: () async throws(PostgresError) -> T) async throws -> Result<T, PostgresError> {
        var outage = RetryPolicy.outageBackoff
        while true {
            try Task.checkCancellation()
            heartbeat.beat()
            do {
                let started = ContinuousClock.now
                let value = try await write()
                let seconds = (ContinuousClock.now - started).totalSeconds
                for _ in 0..<batches { counters.copyDuration.observe(seconds) }
                return .success(value)
            } catch {
                let failure = RetryPolicy.Failure(error)
                guard RetryPolicy.isWaitedOut(failure) else { return .failure(error) }
                let wait = outage.next()
                counters.outageWaits.add(1, ordering: .relaxed)
                logger.warning(failure == .conflict ? "transaction lost a race (deadlock or serialization), retrying" : "postgres unavailable, pausing",
                               metadata: ["error": "\(error)", "retry_in": "\(wait)"])
                try? await Task.sleep(for: wait)
            }
        }
    }

    /// Counts what one committed batch did.
    private func record(_ outcome: StorageOutcome, batch: StorageBatch) {
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
        faults.committed()
    }

    /// The worker's logger with `item`'s metadata: shard, entry and batch id, or task and device id.
    private func itemLogger(_ item: WorkItem, batchID: String? = nil) -> Logger {
        var logger = baseLogger
        switch (item.source, item.payload) {
        case (.stream(let shard, let entryID), _):
            logger[metadataKey: "shard"] = "\(shard)"
            logger[metadataKey: "entry_id"] = "\(entryID)"
            if let batchID { logger[metadataKey: "batch_id"] = "\(batchID)" }
        case (.compat, .task(let task)):
            logger[metadataKey: "task_id"] = "\(task.id)"
            logger[metadataKey: "device_id"] = "\(task.deviceID)"
        case (.compat, _):
            break
        }
        return logger
    }

    private mutating func handle(_ item: WorkItem) async throws {
        logger = itemLogger(item)
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
            let analysis = analyzer.analyze(batch.samples, devices: batch.deviceNames, metrics: batch.metricNames, plan: prepared.plan,
                                            series: batch.series)
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
            faults.crashIfNamed(decoded.devices)
            guard !decoded.id.isEmpty, decoded.id.utf8.count <= 256, !ValidationPolicy.containsControlCharacters(decoded.id) else {
                return .failure(TelemetryError(.invalidField, "batch id \(PrintableName(decoded.id)) is empty, longer than 256 bytes or holds control characters"))
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
            var rejection: (TelemetryError, [UInt8])?
            if let first = invalid.first {
                rejection = (TelemetryError(first.1.code, "\(invalid.count) of \(decoded.samples.count) samples of batch \(decoded.id) rejected; first: \(first.1.message)"),
                             Self.rejectionLines(invalid.map { ($0.0, $0.1.code) }, devices: decoded.devices, metrics: decoded.metrics))
            }
            return .success(Prepared(
                batch: StorageBatch(id: decoded.id, namespace: .hub, digest: ContentDigest.hubBatch(bytes),
                                    deviceNames: decoded.devices, metricNames: decoded.metrics, samples: valid),
                plan: AnalysisPlan(kind: .analyze), maxRetries: configuration.maxRetries, rejection: rejection))
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
                batch: StorageBatch(id: task.id, namespace: .task, digest: ContentDigest.task(task),
                                    deviceNames: [task.deviceID], metricNames: names, samples: valid),
                plan: AnalysisPlan(kind: task.kind), maxRetries: task.maxRetries ?? configuration.maxRetries, rejection: rejection))
        }
    }

    /// Writes the batch as ``RetryPolicy`` decides: outages and lost races are waited out, a
    /// data error is isolated to the failing samples, any other failure is retried with backoff
    /// (its state in the ``RetryLedger``) and finally dead-lettered. Returns false when the item
    /// was dead-lettered (and acknowledged).
    func store(_ batch: StorageBatch, item: WorkItem, maxRetries: Int) async throws -> Bool {
        let ledgerKey = item.retryKey(batchID: batch.id)
        let policy = RetryPolicy(maxRetries: maxRetries, retry: Backoff(initialMillis: Int64(configuration.retryBaseMillis),
                                                                        maximumMillis: Int64(configuration.retryMaxMillis)))
        var random = SystemRandomNumberGenerator()
        var state = await heartbeat.waiting { await retries.load(ledgerKey) }
        while true {
            // Cancelled (the supervisor escalating): stop; the item stays pending in Redis.
            try Task.checkCancellation()
            heartbeat.beat()
            if case .waitUntil(let due) = policy.beforeAttempt(state, nowMillis: wallClockMicros() / 1000) {
                try? await Task.sleep(for: .milliseconds(max(0, due - wallClockMicros() / 1000)))
            }
            var error: PostgresError
            switch try await writeThroughOutages(batches: 1, { () async throws(PostgresError) in try await storage.write(batch) }) {
            case .success(let outcome):
                record(outcome, batch: batch)
                if state.failures > 0 { await heartbeat.waiting { await retries.clear(ledgerKey) } }
                guard await deadLetterRefusals(outcome, batch: batch, item: item) else {
                    await heartbeat.waiting { await acknowledger.acknowledge(item.source, logger: logger) }
                    return false
                }
                return true
            case .failure(let failure):
                error = failure
            }
            var next = state
            var action = policy.afterFailure(RetryPolicy.Failure(error), samples: batch.samples.count, state: &next,
                                             nowMillis: wallClockMicros() / 1000, using: &random)
            if action == .isolate {
                // Caused by some of the rows: store the others, dead-letter those that fail alone.
                logger.warning("a batch failed for a data error; isolating the failing samples", metadata: ["error": "\(error)"])
                do {
                    let failing = try await isolate(batch, batch.samples.indices)
                    if state.failures > 0 { await heartbeat.waiting { await retries.clear(ledgerKey) } }
                    if let first = failing.first {
                        let code: TelemetryError.Code = first.1.sqlState == "22003" ? .outOfRange : .invalidField
                        await deadLetter(item, error: TelemetryError(code, "\(failing.count) of \(batch.samples.count) samples of \(PrintableName(batch.id)) "
                                                                         + "refused by PostgreSQL; first: \(first.1)"),
                                         attempts: 1, firstFailure: wallClockMicros() / 1000,
                                         payload: Self.rejectionLines(failing.map { ($0.0, code) }, devices: batch.deviceNames, metrics: batch.metricNames))
                    }
                    return true
                } catch let isolationError as PostgresError {
                    error = isolationError
                    action = policy.afterFailure(.other, samples: 0, state: &next, nowMillis: wallClockMicros() / 1000, using: &random)
                }
            }
            guard await follow(action, error: error, state: next, item: item, batch: batch, ledgerKey: ledgerKey, maxRetries: maxRetries) else {
                return false
            }
            state = next
        }
    }

    /// Carries out a counted failure's ``RetryPolicy/Action``: `.retry` saves the state and
    /// returns true; `.deadLetter` dead-letters and acknowledges the item and returns false.
    private func follow(_ action: RetryPolicy.Action, error: PostgresError, state: RetryLedger.State, item: WorkItem, batch: StorageBatch,
                        ledgerKey: String, maxRetries: Int) async -> Bool {
        switch action {
        case .deadLetter(let code, let attempts):
            await deadLetter(item, error: TelemetryError(code, "\(error)"), attempts: attempts,
                             firstFailure: state.firstFailureMillis, payload: rawPayload(item))
            await heartbeat.waiting { await retries.clear(ledgerKey) }
            await heartbeat.waiting { await acknowledger.acknowledge(item.source, logger: logger) }
            return false
        case .retry, .attempt, .waitUntil, .isolate:
            counters.retries.add(1, ordering: .relaxed)
            counters.countTask(item.typeName) { $0.retried += 1 }
            await heartbeat.waiting { await retries.save(ledgerKey, state) }
            logger.warning("write failed, will retry", metadata: [
                "batch_id": "\(batch.id)", "failures": "\(state.failures)", "max_retries": "\(maxRetries)",
                "next_attempt_ms": "\(state.nextAttemptMillis)", "error": "\(error)"])
            return true
        }
    }

    /// One NDJSON line per refused sample (device, metric, timestamp, value, reason): the payload
    /// of a dead letter for samples split off their batch.
    static func rejectionLines(_ samples: [(Sample, TelemetryError.Code)], devices: [String], metrics: [String]) -> [UInt8] {
        var lines = ""
        for (sample, code) in samples {
            lines += "{\"device_id\":\(PostgresText.jsonString(devices[Int(sample.deviceIndex)])),"
                + "\"metric\":\(PostgresText.jsonString(metrics[Int(sample.metricIndex)])),"
                + "\"timestamp\":\"\(Timestamp.formatRFC3339(micros: sample.timestampMicros))\","
                + "\"value\":\(sample.value.isFinite ? "\(sample.value)" : "null"),\"reason\":\"\(code)\"}\n"
        }
        return Array(lines.utf8)
    }

    /// Dead-letters what a committed write refused: the whole item when its id was already
    /// committed with other content (`duplicate_id`; returns false), or the samples naming metrics
    /// beyond `validation.max_metric_names` (`cardinality_limit`; the rest of the batch is stored).
    private func deadLetterRefusals(_ outcome: StorageOutcome, batch: StorageBatch, item: WorkItem) async -> Bool {
        let now = wallClockMicros() / 1000
        if outcome.reusedID {
            logger.warning("an id already committed with other content: not stored", metadata: ["id": "\(PrintableName(batch.id))"])
            await deadLetter(item, error: TelemetryError(.duplicateID, "id \(PrintableName(batch.id)) was already committed with other content; "
                                                             + "this input was not stored (ids must be unique per source)"),
                             attempts: 1, firstFailure: now, payload: rawPayload(item))
            return false
        }
        if !outcome.overCardinality.isEmpty {
            let names = outcome.refusedNames.prefix(5).map { PrintableName($0).description }.joined(separator: ", ")
            await deadLetter(item, error: TelemetryError(.cardinalityLimit, "\(outcome.overCardinality.count) samples of \(PrintableName(batch.id)) name new metrics "
                                                             + "beyond validation.max_metric_names (\(configuration.maxMetricNames)): \(names)"),
                             attempts: 1, firstFailure: now,
                             payload: Self.rejectionLines(outcome.overCardinality.map { ($0, .cardinalityLimit) }, devices: batch.deviceNames, metrics: batch.metricNames))
        }
        return true
    }

    /// Writes `batch[range]` after the batch failed for a data error, halving down to the single
    /// samples that fail on their own; returns those (the rest is committed, each piece under a key
    /// of its own derived from the batch's, so a redelivery finds them done). A failure that is not
    /// a data error is thrown, for the caller's retries.
    private func isolate(_ batch: StorageBatch, _ range: Range<Int>) async throws -> [(Sample, PostgresError)] {
        let piece = batch.slice(range)
        switch try await writeThroughOutages(batches: 1, { () async throws(PostgresError) in try await storage.write(piece) }) {
        case .success(let outcome):
            record(outcome, batch: piece)
            return []
        case .failure(let error) where error.isDataError:
            guard range.count > 1 else { return [(batch.samples[range.lowerBound], error)] }
            let middle = range.lowerBound + range.count / 2
            return try await isolate(batch, range.lowerBound..<middle) + isolate(batch, middle..<range.upperBound)
        case .failure(let error):
            throw error
        }
    }

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
