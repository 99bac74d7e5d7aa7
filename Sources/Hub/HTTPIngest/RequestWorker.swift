import TelemetryCore

/// CPU-heavy request work — decompressing and parsing request bodies of up to a few MiB — on a
/// thread of its own, so HTTP ingest never holds the cooperative pool (2 threads here) for the
/// tens of milliseconds a large body takes. Requests are worked on one at a time.
package actor RequestWorker {
    private nonisolated let executor = ThreadExecutor(name: "http-ingest")
    package nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    package init() {}

    /// Runs `body` on the worker's thread.
    package func run<T: Sendable, E: Error>(_ body: @Sendable () throws(E) -> T) throws(E) -> T {
        try body()
    }
}
