import Logging
import Postgres
import TelemetryCore

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
        while let items = await queue.next(max: configuration.worker.groupMax) {
            heartbeat.beat()
            refreshSettings()
            slot.hold(items)
            try await handleInOrder(items, from: processGroup(items))
            heartbeat.idle()
        }
    }

    /// Handles `items[start...]` one at a time, each held (with those after it) until acknowledged.
    mutating func handleInOrder(_ items: [WorkItem], from start: Int) async throws {
        for index in items.indices.dropFirst(start) {
            slot.hold(Array(items[index...]))
            try await handle(items[index])
        }
        slot.hold([])
    }

    mutating func refreshSettings() {
        if settings.generation != settingsGeneration {
            settingsGeneration = settings.generation
            analyzer.apply(settings.value)
        }
    }

    /// Commits the leading run of clean items (decodable, every sample valid) of `items` in one
    /// storage request; returns how many it finished. Returns 0, leaving every item to
    /// ``handle(_:)`` one at a time, when the run is shorter than two items or the request failed
    /// for any reason but an outage (the single path then retries and dead-letters per item).
    mutating func processGroup(_ items: [WorkItem]) async throws -> Int {
        guard items.count > 1 else { return 0 }
        var batches: [StorageBatch] = []
        var plans: [AnalysisPlan] = []
        for item in items {
            guard case .success(let prepared) = prepare(item), prepared.rejection == nil,
                  !prepared.batch.samples.isEmpty || !prepared.batch.labels.isEmpty else { break }
            batches.append(prepared.batch)
            plans.append(prepared.plan)
        }
        guard batches.count > 1 else { return 0 }
        let group = items.prefix(batches.count)
        // Analyse in order on a copy: the worker's state moves on only once the group is committed.
        var trial = analyzer
        var statistics: [[String: SeriesStatistics]] = []
        for index in batches.indices {
            let analysis = trial.analyze(batches[index].samples, tenant: batches[index].tenant, devices: batches[index].deviceNames,
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
    func storeGroup(_ batches: [StorageBatch]) async throws -> [StorageOutcome]? {
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
    func writeThroughOutages<T>(batches: Int, _ write: () async throws(PostgresError) -> T) async throws -> Result<T, PostgresError> {
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
    func record(_ outcome: StorageOutcome, batch: StorageBatch) {
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
    func itemLogger(_ item: WorkItem, batchID: String? = nil) -> Logger {
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

    mutating func handle(_ item: WorkItem) async throws {
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
            counters.qualityRejections.record(prepared.rejectedDetail)
            await deadLetter(item, error: rejection.error, attempts: 1, firstFailure: wallClockMicros() / 1000, payload: rejection.payload)
            // A restarted worker re-processing this item does not write the rejection twice.
            slot.markRejectionWritten()
        }
        // A batch of labels only (line-protocol points of string fields) is stored too.
        if !batch.samples.isEmpty || !batch.labels.isEmpty {
            let analysis = analyzer.analyze(batch.samples, tenant: batch.tenant, devices: batch.deviceNames, metrics: batch.metricNames, plan: prepared.plan,
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
}
