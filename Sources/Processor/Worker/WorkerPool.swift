import Logging
import Supervision
import Synchronization
import TelemetryCore

/// The processor's workers: `num_workers` supervised tasks (children of the service's
/// ``Supervisor``, which runs them in a `TaskGroup`), each with a bounded queue of its own (the
/// consumer routes a device to worker `shard(device) % workers`, so a device's items stay in
/// order), a ``WorkerSlot`` that carries its held items and analysis state across a restart, and
/// a heartbeat for the watchdog.
struct WorkerPool: Sendable {
    /// One queue per worker, `worker.queue_depth` deep; a full queue makes the consumer wait.
    let queues: [BoundedBuffer<WorkItem>]
    let slots: [WorkerSlot]
    let heartbeats: [StageHeartbeat]

    init(configuration: ProcessorConfiguration, heartbeat: (String) -> StageHeartbeat) {
        queues = (0..<configuration.worker.count).map { _ in BoundedBuffer<WorkItem>(capacity: configuration.worker.queueDepth, policy: .block) }
        slots = (0..<configuration.worker.count).map { _ in WorkerSlot() }
        heartbeats = (0..<configuration.worker.count).map { heartbeat("worker-\($0)") }
    }

    /// Items queued over every worker, for the metrics.
    var queued: Int { queues.reduce(0) { $0 + $1.count } }

    /// Ends the queues: each worker finishes what is queued and returns.
    func finish() {
        for queue in queues { queue.finish() }
    }

    /// The supervised children, `worker-0` … `worker-N-1`; worker `i` writes through
    /// `storages[i % storages.count]`.
    func children(storages: [StorageActor], acknowledger: Acknowledger, deadLetters: DeadLetterWriter, retries: RetryLedger,
                  faults: FaultSwitches, counters: ProcessorCounters, configuration: ProcessorConfiguration,
                  settings: Reloadable<AnalysisSettings>, logger: Logger) -> [Supervisor.Child] {
        queues.indices.map { index in
            .init(name: "worker-\(index)") {
                var worker = Worker(index: index, queue: queues[index], storage: storages[index % storages.count], acknowledger: acknowledger,
                                    deadLetters: deadLetters, retries: retries, faults: faults,
                                    heartbeat: heartbeats[index], counters: counters,
                                    configuration: configuration, slot: slots[index], settings: settings, logger: logger)
                try await worker.run()
            }
        }
    }
}

/// What one worker keeps across restarts of its task: the items it was processing (still pending
/// in Redis, re-processed first by the restarted worker) and its analysis state.
final class WorkerSlot: Sendable {
    private struct State: Sendable {
        var held: [WorkItem] = []
        var analyzer: Analyzer?
        var rejectionWritten = false
    }

    private let state = Mutex(State())

    /// The items being processed, in order (empty between items).
    var held: [WorkItem] { state.withLock { $0.held } }

    /// Holds `items` (none between items); a new first item starts with no rejection written.
    func hold(_ items: [WorkItem]) {
        state.withLock { $0.held = items; $0.rejectionWritten = false }
    }

    /// True once the first held item's rejected samples went to the dead letters.
    var rejectionWritten: Bool { state.withLock { $0.rejectionWritten } }

    func markRejectionWritten() {
        state.withLock { $0.rejectionWritten = true }
    }

    /// Hands the analysis state over to the (re)started worker; nil on first start.
    func takeAnalyzer() -> Analyzer? {
        state.withLock { s in
            defer { s.analyzer = nil }
            return s.analyzer
        }
    }

    func keep(_ analyzer: Analyzer) {
        state.withLock { $0.analyzer = analyzer }
    }
}
