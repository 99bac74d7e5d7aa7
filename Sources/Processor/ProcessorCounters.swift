import Synchronization
public import TelemetryCore
public import Redis

/// Counters of the processor's stages, read by logs and status (and by metrics later).
public final class ProcessorCounters: Sendable {
    public let entriesRead = Atomic<Int>(0)
    public let compatTasksRead = Atomic<Int>(0)
    public let itemsCompleted = Atomic<Int>(0)
    public let samplesStored = Atomic<Int>(0)
    public let duplicateBatches = Atomic<Int>(0)
    public let duplicateSamples = Atomic<Int>(0)
    public let conflictingValues = Atomic<Int>(0)
    public let alerts = Atomic<Int>(0)
    public let retries = Atomic<Int>(0)
    public let outageWaits = Atomic<Int>(0)
    /// Pending entries found deleted from their stream (trimmed or XDEL'd) before being processed.
    public let trimmedUnread = Atomic<Int>(0)
    /// Entries undelivered or pending at the last probe before a consumer group was found lost.
    public let entriesPossiblyLost = Atomic<Int>(0)
    /// Pending entries and processing-list tasks no worker held (a lost reply), delivered again.
    public let strandedRedelivered = Atomic<Int>(0)
    /// Dead letters deleted by the `dead_letters.max_bytes` cap.
    public let deadLettersEvicted = Atomic<Int>(0)
    /// Consumer groups recreated after Redis lost them (NOGROUP).
    public let groupsRecreated = Atomic<Int>(0)
    /// Entries and tasks quarantined as `poison` (delivered more than `consumer.max_deliveries` times).
    public let poisoned = Atomic<Int>(0)
    /// 1 while the last probe reached Redis / PostgreSQL.
    public let redisReachable = Atomic<Int>(0)
    public let postgresReachable = Atomic<Int>(0)
    /// 1 when Redis was found without `appendonly yes` / `noeviction`.
    public let redisMisconfigured = Atomic<Int>(0)
    /// 1 once start-up (migrations, consumer groups) is done.
    public let started = Atomic<Int>(0)
    private let deadLetters = Mutex<[String: Int]>([:])
    private let tasks = Mutex<[String: TaskCounts]>([:])
    private let queues = Mutex<[QueueState.Shard]>([])
    /// Rows inserted by COPY (or its conflict fallback).
    public let copyRows = Atomic<Int>(0)
    /// Seconds per storage transaction (batch-id record, COPY, aggregates, latest, alerts, COMMIT).
    public let copyDuration = BucketHistogram(bounds: BucketHistogram.exponentialBounds(start: 0.000_5, factor: 2, count: 14))
    /// Seconds from a sample's own timestamp to the COMMIT that stored it.
    public let endToEndLatency = BucketHistogram(bounds: BucketHistogram.exponentialBounds(start: 0.005, factor: 2, count: 16))
    /// Storage transactions committed and the batches they carried (group commit; sampled every probe).
    public let storageTransactions = Atomic<Int>(0)
    public let storageBatches = Atomic<Int>(0)
    /// Items waiting in the worker queues (sampled every probe).
    public let workerQueueDepth = Atomic<Int>(0)
    /// Entries in the dead-letter stream (sampled every probe).
    public let deadLetterStreamLength = Atomic<Int>(0)

    /// Finished, dead-lettered and retried items per task type (`hub_batch` for stream entries).
    public struct TaskCounts: Sendable, Equatable {
        public var processed = 0
        public var failed = 0
        public var retried = 0

        public init() {}
    }

    private let metricStatistics = Mutex<[String: SeriesStatistics]>([:])

    public init() {}

    public func countDeadLetter(reason: TelemetryError.Code) {
        deadLetters.withLock { $0[reason.description, default: 0] += 1 }
    }

    public func countTask(_ type: String, _ update: (inout TaskCounts) -> Void) {
        tasks.withLock { update(&$0[type, default: TaskCounts()]) }
    }

    /// Per task type: processed, failed (dead-lettered) and retried.
    public var tasksByType: [String: TaskCounts] { tasks.withLock { $0 } }

    /// Records a probe of the queues in Redis.
    public func updateQueues(_ state: QueueState) {
        queues.withLock { $0 = state.shards }
        deadLetterStreamLength.store(state.deadLetters, ordering: .relaxed)
    }

    /// Length, lag and pending entries of each shard stream (indexed by shard), as last probed.
    public var shards: [QueueState.Shard] { queues.withLock { $0 } }

    /// Dead letters written so far, by reason code.
    public var deadLettersByReason: [String: Int] { deadLetters.withLock { $0 } }

    /// Folds per-batch statistics into per-metric totals (no per-device labels).
    public func record(statistics: [String: SeriesStatistics]) {
        guard !statistics.isEmpty else { return }
        metricStatistics.withLock { totals in
            for (metric, s) in statistics { totals[metric, default: SeriesStatistics()].merge(s) }
        }
    }

    /// Per-metric statistics of every analysed sample so far.
    public var statisticsByMetric: [String: SeriesStatistics] { metricStatistics.withLock { $0 } }

    public var summary: String {
        "entries=\(entriesRead.load(ordering: .relaxed)) compat=\(compatTasksRead.load(ordering: .relaxed)) " +
            "done=\(itemsCompleted.load(ordering: .relaxed)) stored=\(samplesStored.load(ordering: .relaxed)) " +
            "dup_batches=\(duplicateBatches.load(ordering: .relaxed)) dup_samples=\(duplicateSamples.load(ordering: .relaxed)) " +
            "alerts=\(alerts.load(ordering: .relaxed)) retries=\(retries.load(ordering: .relaxed)) " +
            "dead_letters=\(deadLettersByReason.values.reduce(0, +))"
    }
}
