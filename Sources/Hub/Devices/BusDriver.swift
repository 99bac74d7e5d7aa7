import Foundation
import Buses
import Logging
import Synchronization
import TelemetryCore
import TelemetryRing

/// One kind of bus as a ``DeviceActor`` drives it. Every method runs on the bus's own thread, so
/// blocking reads and ioctls are allowed here and nowhere else.
package protocol BusDriver {
    /// The bus kind, a metric label: `simulated`, `uart_lines`, `modbus_rtu`, `bme280`.
    var kind: String { get }
    /// True when the bus has nothing more to read (a simulated bus with a readings limit).
    var isFinished: Bool { get }
    /// A short description of the device's state for status (`slave 1 answering, slave 2 not
    /// answering since …`), or nil.
    var detail: String? { get }
    /// Opens the device (again); a `BusError` here is retried with backoff.
    mutating func connect(_ output: BusOutput) throws(BusError)
    /// Waits for the next readings (at most about a second, so cancellation is seen) and stages
    /// them in `output`. A `BusError` with `reconnect` closes the device and opens it again.
    /// Runs isolated to the calling ``DeviceActor``, so on the bus's thread (a plain nonisolated
    /// async method would run on the cooperative pool).
    mutating func poll(_ output: BusOutput, isolation: isolated (any Actor)?) async throws
    /// Closes the device; what was half-read is reported to `output`.
    mutating func disconnect(_ output: BusOutput)
}

extension BusDriver {
    package var isFinished: Bool { false }
    package var detail: String? { nil }
}

/// Counters and state of one bus, read by status and metrics.
package final class BusCounters: Sendable {
    package let samplesRead = Atomic<Int>(0)
    /// Readings accepted: lines parsed, Modbus polls answered, sensor measurements taken.
    package let readings = Atomic<Int>(0)
    package let ringFullWaits = Atomic<Int>(0)
    /// Times the device was opened again after it failed or went away.
    package let reconnects = Atomic<Int>(0)
    package let connected = Atomic<Bool>(false)
    package let deadLetters = Atomic<Int>(0)
    private struct Errors {
        var byKind: [String: Int] = [:]
        var last: String?
        var lastAtMillis: Int64?
        var detail: String?
    }
    private let errors = Mutex(Errors())

    package init() {}

    package func countError(_ error: BusError) {
        errors.withLock {
            $0.byKind[error.kind.rawValue, default: 0] += 1
            $0.last = error.message
            $0.lastAtMillis = wallClockMicros() / 1000
        }
    }

    /// Errors so far by kind (every kind present, zeros included).
    package var errorsByKind: [String: Int] {
        let counted = errors.withLock { $0.byKind }
        return Dictionary(uniqueKeysWithValues: BusError.Kind.all.map { ($0.rawValue, counted[$0.rawValue] ?? 0) })
    }

    package var lastError: (message: String, atMillis: Int64)? {
        errors.withLock { e in e.last.map { ($0, e.lastAtMillis ?? 0) } }
    }

    /// The driver's own state line (``BusDriver/detail``).
    package var detail: String? {
        get { errors.withLock { $0.detail } }
        set { errors.withLock { $0.detail = newValue } }
    }
}

/// Where a driver puts what it read: samples are written into the bus's ring in place and
/// published in readings (one release store each); lines that do not parse become dead letters.
///
/// When the ring is full the bus's thread waits (counted) until the ingest side makes room:
/// backpressure reaches the device, nothing is dropped.
package final class BusOutput {
    package let busName: String
    package let catalog: DeviceCatalog
    package let counters: BusCounters
    let hubCounters: HubCounters
    let ring: SampleRing
    let deadLetters: HubDeadLetters
    let logger: Logger
    private let writer: RingWriter
    /// Samples published at most this many at a time (a reading publishes at its end).
    private let publishEvery: Int
    private var sequence: UInt64 = 0
    private var lastTimestamp: Int64 = 0

    init(busName: String, ring: SampleRing, stagingCapacity: Int, catalog: DeviceCatalog, counters: BusCounters,
         hubCounters: HubCounters, deadLetters: HubDeadLetters, logger: Logger) {
        self.busName = busName
        self.ring = ring
        self.catalog = catalog
        self.counters = counters
        self.hubCounters = hubCounters
        self.deadLetters = deadLetters
        self.logger = logger
        writer = RingWriter(ring: ring)
        publishEvery = max(16, stagingCapacity)
    }

    /// A receive timestamp for a reading without its own: the wall clock, strictly increasing on
    /// this bus so two readings of one device never share a key.
    package func receiveTimestamp() -> Int64 {
        var now = wallClockMicros()
        if now <= lastTimestamp { now = lastTimestamp + 1 }
        lastTimestamp = now
        return now
    }

    @inline(__always)
    package func sample(device: UInt32, metric: UInt16, timestampMicros: Int64, value: Double) {
        if writer.pending == publishEvery { writer.publish() }
        sequence &+= 1
        let sample = Sample(deviceIndex: device, metricIndex: metric, timestampMicros: timestampMicros, value: value)
        while !writer.append(sample, sequence: sequence) { waitForRoom() }
    }

    /// Counts a reading of `samples` samples.
    package func readingTaken(samples: Int) {
        counters.readings.add(1, ordering: .relaxed)
        counters.samplesRead.add(samples, ordering: .relaxed)
        hubCounters.samplesRead.add(samples, ordering: .relaxed)
    }

    /// Publishes every sample of the reading.
    package func publish() { writer.publish() }

    /// The ring is full: publishes what is pending, so the consumer can take it, and waits (this
    /// thread only, counted) for the ingest side to make room.
    private func waitForRoom() {
        writer.publish()
        counters.ringFullWaits.add(1, ordering: .relaxed)
        hubCounters.ringFullWaits.add(1, ordering: .relaxed)
        usleep(1000)
    }

    /// Sends input that could not be read to the dead-letter stream, with its raw bytes.
    package func deadLetter(_ error: TelemetryError, payload: [UInt8], sourceID: String) {
        counters.deadLetters.add(1, ordering: .relaxed)
        counters.countError(BusError(.malformed, error.description))
        deadLetters.add(HubDeadLetters.Entry(error: error, source: "bus:\(busName)", sourceID: sourceID, payload: payload))
        logger.warning("unreadable input dead-lettered", metadata: [
            "bus": "\(busName)", "reason": "\(error.code)", "message": "\(error.message)", "source_id": "\(sourceID)"])
    }
}

/// Paces a polling driver: the first poll at once, then one every `interval`; a poll that ran
/// late does not cause a burst of catch-up polls.
struct PollTimer {
    private let clock = ContinuousClock()
    private var next: ContinuousClock.Instant?

    mutating func wait(interval: Duration, isolation: isolated (any Actor)? = #isolation) async throws {
        if let next {
            try await Task.sleep(until: next, clock: clock)
            self.next = max(next + interval, clock.now)
        } else {
            next = clock.now + interval
        }
    }
}
