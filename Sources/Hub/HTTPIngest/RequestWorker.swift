import Synchronization
import TelemetryCore

/// CPU-heavy request work — decompressing and parsing request bodies of up to a few MiB — on a
/// thread of its own, so HTTP ingest never holds the cooperative pool (2 threads here) for the
/// tens of milliseconds a large body takes. Requests are worked on one at a time.
package actor RequestWorker {
    private nonisolated let executor: ThreadExecutor
    package nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// A worker on a thread named `name`.
    package init(name: String = "http-ingest") {
        executor = ThreadExecutor(name: name)
    }

    /// Runs `body` on the worker's thread.
    package func run<T: Sendable, E: Error>(_ body: @Sendable () throws(E) -> T) throws(E) -> T {
        try body()
    }
}

/// `http.ingest.parse_threads` request workers, handed out in turn: concurrent requests are
/// inflated and parsed on as many threads (Docs/http-ingest.md). A request keeps its worker from
/// its body to its batches. Requests of one connection arrive one after the other, so their order
/// is not changed; each one's 202 still waits for its own durability ticket.
package final class RequestWorkerPool: Sendable {
    private let workers: [RequestWorker]
    private let turn = Atomic<Int>(0)

    /// `count` workers (at least one).
    package init(count: Int, name: String = "http-ingest") {
        workers = (0..<max(1, count)).map { RequestWorker(name: count > 1 ? "\(name)-\($0)" : name) }
    }

    /// The number of workers.
    package var count: Int { workers.count }

    /// The next worker in turn.
    package func next() -> RequestWorker {
        workers[turn.add(1, ordering: .relaxed).oldValue % workers.count]
    }
}
