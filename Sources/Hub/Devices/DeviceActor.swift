import Buses
import Logging
import TelemetryCore
import TelemetryRing

/// Reads one bus on a thread of its own and pushes every reading into the bus's own ring.
///
/// The push is a `nonisolated` call on the C ring: no actor hop, no allocation, no lock. The
/// actor runs on its own ``ThreadExecutor``, so a driver's blocking reads and ioctls never hold a
/// thread of the cooperative pool. When the ring is full the bus waits (backpressure from the
/// ingest side) and counts the wait; nothing is dropped. A device that cannot be opened, or goes
/// away, is opened again with a capped exponential backoff and reported; it is never fatal.
package actor DeviceActor {
    private nonisolated let executor: ThreadExecutor
    package nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    package nonisolated let name: String
    package nonisolated let kind: String
    /// The bus's ring; the ingest actor is its only consumer.
    package nonisolated let ring: SampleRing
    /// This bus's own counters (the hub's are totals).
    package nonisolated let busCounters = BusCounters()
    private var driver: any BusDriver
    private let output: BusOutput
    private let logger: Logger
    private var connected = false {
        didSet { busCounters.connected.store(connected, ordering: .relaxed) }
    }
    /// Longest wait between two attempts to open a device.
    /// Waits between reconnection attempts: 100 ms doubling to `maxBackoffMillis`.
    private let reconnect: Backoff

    /// `makeDriver` is called once, here: the driver (with its open files) belongs to the actor.
    package init(name: String, makeDriver: @Sendable () -> any BusDriver, ringCapacity: Int, stagingCapacity: Int, catalog: DeviceCatalog,
                counters: HubCounters, deadLetters: HubDeadLetters, logger: Logger, maxBackoffMillis: Int = 30_000) {
        self.name = name
        let driver = makeDriver()
        kind = driver.kind
        executor = ThreadExecutor(name: "bus-\(name)")
        ring = SampleRing(capacity: ringCapacity)
        self.driver = driver
        var logger = logger
        logger[metadataKey: "bus"] = "\(name)"
        self.logger = logger
        reconnect = Backoff(initialMillis: 100, maximumMillis: Int64(maxBackoffMillis))
        output = BusOutput(busName: name, ring: ring, stagingCapacity: stagingCapacity, catalog: catalog, counters: busCounters,
                           hubCounters: counters, deadLetters: deadLetters, logger: logger)
    }

    /// Reads until the driver is finished or the task is cancelled.
    package func run() async throws {
        output.publish()  // what a cancelled run left staged goes first
        var failures = 0
        defer {
            if connected { driver.disconnect(output) }
            connected = false
            output.publish()
        }
        while !driver.isFinished {
            try Task.checkCancellation()
            if !connected {
                do throws(BusError) {
                    try driver.connect(output)
                    connected = true
                    if failures > 0 {
                        busCounters.reconnects.add(1, ordering: .relaxed)
                        logger.notice("bus device back", metadata: ["after_attempts": "\(failures)"])
                    }
                    failures = 0
                } catch {
                    failures += 1
                    busCounters.countError(error)
                    // Reported on the first failure and then every tenth, not at every retry.
                    if failures == 1 || failures % 10 == 0 {
                        logger.warning("bus device unavailable; retrying", metadata: [
                            "error": "\(error.message)", "error_kind": "\(error.kind)", "attempts": "\(failures)"])
                    }
                    try await Task.sleep(for: .milliseconds(reconnect.capMillis(afterFailures: failures)))
                    continue
                }
            }
            do {
                try await driver.poll(output, isolation: self)
            } catch let error as BusError {
                busCounters.countError(error)
                if error.reconnect {
                    logger.warning("bus device failed; reopening it", metadata: ["error": "\(error.message)", "error_kind": "\(error.kind)"])
                    driver.disconnect(output)
                    connected = false
                    failures = 1
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            busCounters.detail = driver.detail
            output.publish()
        }
    }
}
