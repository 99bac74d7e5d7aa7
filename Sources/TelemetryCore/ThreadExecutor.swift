import Foundation

/// A serial executor that runs its jobs on one dedicated OS thread.
///
/// Actors that call blocking C libraries (hiredis, libpq) pin themselves to one of these, so a
/// blocking call holds that thread and never one of the cooperative pool's (2 on this machine).
///
/// ```swift
/// actor Storage {
///     nonisolated let executor = ThreadExecutor(name: "storage")
///     nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
/// }
/// ```
public final class ThreadExecutor: SerialExecutor, @unchecked Sendable {
    // @unchecked: `jobs` is guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    /// The name given to the thread.
    public let name: String

    /// Starts the thread. It lives as long as the process (executors are few and long-lived).
    public init(name: String) {
        self.name = name
        let thread = Thread { [self] in self.runLoop() }
        thread.name = name
        thread.start()
    }

    /// Queues `job` to run on the executor's thread after the jobs queued before it.
    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    /// This executor, as an actor's `unownedExecutor` returns it.
    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    private func runLoop() {
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            swap(&batch, &jobs)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
