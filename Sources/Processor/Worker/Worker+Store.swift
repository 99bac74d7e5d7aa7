import Logging
import Postgres
import TelemetryCore

/// Writing an item's batch as ``RetryPolicy`` decides, and dead-lettering what storage refused.
extension Worker {
    /// Writes the batch as ``RetryPolicy`` decides: outages and lost races are waited out, a
    /// data error is isolated to the failing samples, any other failure is retried with backoff
    /// (its state in the ``RetryLedger``) and finally dead-lettered. Returns false when the item
    /// was dead-lettered (and acknowledged).
    func store(_ batch: StorageBatch, item: WorkItem, maxRetries: Int) async throws -> Bool {
        let ledgerKey = item.retryKey(batchID: batch.id)
        let policy = RetryPolicy(maxRetries: maxRetries, retry: Backoff(initialMillis: Int64(configuration.retry.baseMillis),
                                                                        maximumMillis: Int64(configuration.retry.maxMillis)))
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
                    let refused = try await isolate(batch, batch.samples.indices)
                    if state.failures > 0 { await heartbeat.waiting { await retries.clear(ledgerKey) } }
                    // What no piece stored, each sample with its reason, in one dead letter: those
                    // PostgreSQL refused alone, those over the metric-name cap, those of a piece
                    // whose key was already committed with other content.
                    if let first = refused.first {
                        await deadLetter(item, error: TelemetryError(first.code, "\(refused.count) of \(batch.samples.count) samples of \(PrintableName(batch.id)) "
                                                                         + "not stored; first: \(first.reason)"),
                                         attempts: 1, firstFailure: wallClockMicros() / 1000,
                                         payload: Self.rejectionLines(refused.map { ($0.sample, $0.code) }, tenant: batch.tenant,
                                                                      devices: batch.deviceNames, metrics: batch.metricNames))
                    }
                    // The batch as a whole is done: a redelivery is a duplicate, and a session
                    // read naming it is served. Through outages, before the acknowledgement.
                    if case .failure(let recordError) = try await writeThroughOutages(batches: 0, { () async throws(PostgresError) in
                        try await storage.recordIsolated(batch)
                    }) {
                        logger.warning("an isolated batch's own key was not recorded (a redelivery isolates it again)",
                                       metadata: ["error": "\(recordError)"])
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
    func follow(_ action: RetryPolicy.Action, error: PostgresError, state: RetryLedger.State, item: WorkItem, batch: StorageBatch,
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


    /// Dead-letters what a committed write refused: the whole item when its id was already
    /// committed with other content (`duplicate_id`; returns false), or the samples naming metrics
    /// beyond `validation.max_metric_names` (`cardinality_limit`; the rest of the batch is stored).
    func deadLetterRefusals(_ outcome: StorageOutcome, batch: StorageBatch, item: WorkItem) async -> Bool {
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
                             payload: Self.rejectionLines(outcome.overCardinality.map { ($0, .cardinalityLimit) }, tenant: batch.tenant,
                                                          devices: batch.deviceNames, metrics: batch.metricNames))
        }
        return true
    }

    /// A sample an isolated batch could not store, and why.
    struct Refusal {
        var sample: Sample
        var code: TelemetryError.Code
        var reason: String
    }

    /// Writes `batch[range]` after the batch failed for a data error, halving down to the single
    /// samples that fail on their own; returns what was not stored (the rest is committed, each
    /// piece under a key of its own derived from the batch's, so a redelivery finds them done):
    /// samples PostgreSQL refuses alone, and those a committed piece refused (a metric name over
    /// `validation.max_metric_names`, or a piece key already committed with other content). A
    /// failure that is not a data error is thrown, for the caller's retries.
    func isolate(_ batch: StorageBatch, _ range: Range<Int>) async throws -> [Refusal] {
        let piece = batch.slice(range)
        switch try await writeThroughOutages(batches: 1, { () async throws(PostgresError) in try await storage.write(piece) }) {
        case .success(let outcome):
            record(outcome, batch: piece)
            if outcome.reusedID {
                return piece.samples.map { Refusal(sample: $0, code: .duplicateID, reason: "piece \(PrintableName(piece.key)) was already committed with other content") }
            }
            let names = outcome.refusedNames.prefix(5).map { PrintableName($0).description }.joined(separator: ", ")
            return outcome.overCardinality.map {
                Refusal(sample: $0, code: .cardinalityLimit, reason: "new metric names beyond validation.max_metric_names (\(configuration.maxMetricNames)): \(names)")
            }
        case .failure(let error) where error.isDataError:
            guard range.count > 1 else {
                return [Refusal(sample: batch.samples[range.lowerBound], code: error.sqlState == "22003" ? .outOfRange : .invalidField,
                                reason: "refused by PostgreSQL: \(error)")]
            }
            let middle = range.lowerBound + range.count / 2
            return try await isolate(batch, range.lowerBound..<middle) + isolate(batch, middle..<range.upperBound)
        case .failure(let error):
            throw error
        }
    }

    func rawPayload(_ item: WorkItem) -> [UInt8] {
        switch (item.source, item.payload) {
        case (.compat(let raw), _): raw
        case (_, .hubBatch(_, let bytes)): bytes
        case (_, .undecodable(_, let raw, _)): raw
        case (_, .task): []
        }
    }

    func deadLetter(_ item: WorkItem, error: TelemetryError, attempts: Int, firstFailure: Int64, payload: [UInt8]) async {
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
