import Logging
import Postgres
import Redis
import TelemetryCore

/// Re-processes stream entries still in the streams (Docs/operations.md, "Replay"): each entry
/// of the chosen shards between two times is decoded, validated, analysed and stored exactly as
/// a worker would, through the same storage transaction. Storage is idempotent by batch id, so
/// entries already stored add nothing (aggregates stay exact); on a database restored without
/// them, they are stored again, with their rollups, latest values and alerts.
///
/// Samples that validation refuses are counted, not dead-lettered again (they were the first
/// time). Entries are read a page at a time (`XRANGE … COUNT`); nothing is acknowledged, so the
/// consumer group and running processors are not disturbed.
package struct Replayer: Sendable {
    package let configuration: ProcessorConfiguration
    package let redis: RedisClient
    package let storage: StorageActor
    package let logger: Logger

    package init(configuration: ProcessorConfiguration, redis: RedisClient, storage: StorageActor, logger: Logger) {
        self.configuration = configuration
        self.redis = redis
        self.storage = storage
        self.logger = logger
    }

    /// What a replay did.
    package struct Outcome: Sendable, Equatable {
        /// Stream entries re-processed.
        package var entries = 0
        /// Samples newly stored.
        package var stored = 0
        /// Batches whose id was already stored (nothing written).
        package var duplicateBatches = 0
        /// Samples of new batches already stored under the same key.
        package var duplicateSamples = 0
        /// Samples validation refused (dead-lettered when first processed).
        package var rejectedSamples = 0
        /// Entries that could not be decoded.
        package var undecodable = 0
        /// Batches PostgreSQL refused even alone (logged with the reason).
        package var failedBatches = 0
        /// Alerts newly recorded.
        package var alerts = 0
    }

    /// Replays `shards` from `fromMillis` to `toMillis` (stream entry times, inclusive; nil: the
    /// newest); `progress` is told the entries done so far after each page.
    package func run(shards: [Int], fromMillis: UInt64, toMillis: UInt64?, pageSize: Int = 200,
                     progress: (Outcome) -> Void = { _ in }) async throws -> Outcome {
        var outcome = Outcome()
        var analyzer = Analyzer(settings: configuration.analysis)
        let faults = FaultSwitches(environment: [:])
        let end = toMillis.map { "\($0)-\(UInt64.max)" } ?? "+"
        for shard in shards {
            let key = configuration.redis.keys.stream(shard)
            var start = "\(fromMillis)-0"
            while true {
                let page = try await redis.send(["XRANGE", key, start, end, "COUNT", String(pageSize)]).array ?? []
                guard !page.isEmpty else { break }
                var batches: [StorageBatch] = []
                var lastID: String?
                for raw in page {
                    guard let parts = raw.array, parts.count == 2, let id = parts[0].string else { continue }
                    lastID = id
                    outcome.entries += 1
                    let fields = parts[1].array ?? []
                    let entry = StreamEntry(fields: stride(from: 0, to: fields.count - 1, by: 2).map { (fields[$0].string, fields[$0 + 1].bytes) })
                    guard let data = entry.data else { outcome.undecodable += 1; continue }
                    let item = WorkItem(source: .stream(shard: shard, entryID: id), payload: .hubBatch(version: entry.version, bytes: data))
                    // Validated against the time the entry was written, as its first worker did.
                    let written = StreamID(id).map { Int64(clamping: $0.milliseconds) &* 1000 }
                    switch Worker.prepare(item, configuration: configuration, faults: faults, nowMicros: written) {
                    case .failure(let error):
                        outcome.undecodable += 1
                        logger.warning("replay: entry not decodable", metadata: ["shard": "\(shard)", "entry": "\(id)", "error": "\(error)"])
                    case .success(var prepared):
                        outcome.rejectedSamples += prepared.rejectedSamples
                        guard !prepared.batch.samples.isEmpty || !prepared.batch.labels.isEmpty else { continue }
                        let analysis = analyzer.analyze(prepared.batch.samples, tenant: prepared.batch.tenant, devices: prepared.batch.deviceNames,
                                                        metrics: prepared.batch.metricNames, plan: prepared.plan, series: prepared.batch.series)
                        prepared.batch.alerts = analysis.alerts
                        analyzer.commit(analysis)
                        batches.append(prepared.batch)
                    }
                }
                let results = try await store(batches)
                tally(results, into: &outcome)
                progress(outcome)
                guard let lastID, page.count == pageSize else { break }
                start = "(" + lastID
            }
        }
        return outcome
    }

    /// Stores `batches` in transactions of about `storage.group_rows` rows; a group PostgreSQL
    /// refuses is written again one batch at a time, so one bad batch fails alone (counted with
    /// nil). A lost connection ends the replay (its rerun is harmless).
    func store(_ batches: [StorageBatch]) async throws -> [StorageOutcome?] {
        var results: [StorageOutcome?] = []
        var start = 0
        while start < batches.count {
            var end = start
            var rows = 0
            while end < batches.count && (end == start || rows + batches[end].samples.count <= configuration.storage.groupRows) {
                rows += batches[end].samples.count
                end += 1
            }
            results += try await write(Array(batches[start..<end]))
            start = end
        }
        return results
    }

    private func write(_ group: [StorageBatch]) async throws -> [StorageOutcome?] {
        let grouped: Result<[StorageOutcome], PostgresError> = await Self.attempt { () async throws(PostgresError) in try await storage.write(group) }
        switch grouped {
        case .success(let outcomes): return outcomes
        case .failure(let error) where error.code != .server: throw error
        case .failure: break
        }
        var results: [StorageOutcome?] = []
        for batch in group {
            switch await Self.attempt({ () async throws(PostgresError) in try await storage.write([batch]) }) {
            case .success(let outcomes):
                results += outcomes
            case .failure(let error) where error.code != .server:
                throw error
            case .failure(let error):
                results.append(nil)
                logger.error("replay: a batch could not be stored", metadata: ["batch_id": "\(batch.id)", "error": "\(error)"])
            }
        }
        return results
    }

    static func attempt<T>(_ body: () async throws(PostgresError) -> T) async -> Result<T, PostgresError> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }

    private func tally(_ outcomes: [StorageOutcome?], into outcome: inout Outcome) {
        for result in outcomes {
            guard let result else {
                outcome.failedBatches += 1
                continue
            }
            if result.duplicateBatch { outcome.duplicateBatches += 1 }
            outcome.stored += result.inserted
            outcome.duplicateSamples += result.duplicates
            outcome.alerts += result.alertsInserted
        }
    }
}
