import Synchronization
import TelemetryCore

/// Stream entries and compatibility tasks handed to the workers and not yet acknowledged. The
/// periodic stranded-work check (``ConsumerActor``) claims only what is pending in Redis but not
/// here: an entry whose `XREADGROUP` reply was lost, a task whose `LMOVE` reply was lost; never
/// one a worker is still busy with (a slow PostgreSQL), which would be processed twice.
package final class InFlight: Sendable {
    private struct State {
        var entries: Set<String> = []
        /// Tasks by the FNV-1a-64 of their bytes, counted (the same bytes can be queued twice).
        var tasks: [UInt64: Int] = [:]
    }

    private let state = Mutex(State())

    package init() {}

    private static func key(_ shard: Int, _ id: String) -> String { "\(shard)/\(id)" }

    func add(shard: Int, entry: String) { _ = state.withLock { $0.entries.insert(Self.key(shard, entry)) } }
    func contains(shard: Int, entry: String) -> Bool { state.withLock { $0.entries.contains(Self.key(shard, entry)) } }
    /// Whether any entry of `shard` is with the workers.
    func holds(shard: Int) -> Bool {
        let prefix = "\(shard)/"
        return state.withLock { $0.entries.contains { $0.hasPrefix(prefix) } }
    }

    func add(task raw: [UInt8]) {
        let hash = FNV1a.hash64(bytes: raw)
        state.withLock { $0.tasks[hash, default: 0] += 1 }
    }

    /// How many copies of a task (by its hash, computed outside the lock) are with the workers.
    func count(taskHash hash: UInt64) -> Int { state.withLock { $0.tasks[hash] ?? 0 } }

    /// Forgets what was acknowledged.
    func finished(_ sources: [WorkItem.Source]) {
        let hashes = sources.map { source -> UInt64? in if case .compat(let raw) = source { FNV1a.hash64(bytes: raw) } else { nil } }
        state.withLock { state in
            for (source, hash) in zip(sources, hashes) {
                switch source {
                case .stream(let shard, let entryID):
                    state.entries.remove(Self.key(shard, entryID))
                case .compat:
                    if let hash, let n = state.tasks[hash] { state.tasks[hash] = n > 1 ? n - 1 : nil }
                }
            }
        }
    }
}
