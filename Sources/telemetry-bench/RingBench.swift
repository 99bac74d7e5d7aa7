import CTelemetryRingBench
import DequeModule
import Hub
import Foundation
import TelemetryCore
import TelemetryRing

/// Samples per second through four in-process queues, producer and consumer on two threads, the
/// consumer draining up to `drain` records at a time and checking that they arrive in order:
/// the hub's C ring pushed from Swift (`SampleRing.push`, what a `DeviceActor` calls), the same
/// ring driven by a C-only loop in this binary, a `Mutex`-guarded `Deque`, and an `AsyncStream`
/// with one `yield` per sample.
enum RingBench {
    /// The hub's defaults: `ingest.ring_capacity` and the `IngestActor`'s drain.
    static let capacity = 65_536
    static let drain = IngestActor.drainBatch
    /// Runs per figure; the median is reported (the machines are shared and noisy).
    static let repeats = 5

    struct Result {
        var name: String
        var samples: UInt64
        var seconds: Double
        var perSecond: Double { Double(samples) / seconds }
    }

    /// Runs every body once per round for `rounds` rounds, each round starting one body further
    /// on (so no body always follows the same one); returns each body's median (samples/s).
    static func interleaved(_ rounds: Int, _ bodies: [() throws -> Result]) throws -> [Result] {
        var results = [[Result]](repeating: [], count: bodies.count)
        for round in 0..<rounds {
            for step in bodies.indices {
                let index = (round + step) % bodies.count
                results[index].append(try bodies[index]())
            }
        }
        return results.map { runs in runs.sorted { $0.perSecond < $1.perSecond }[runs.count / 2] }
    }

    /// Records staged per publication by the staged variants (a reading of 21 sensors × 3).
    static let publish = 64

    /// The C producer and consumer loop over the same ring (`telemetry_ring_c_loop`), pushing one
    /// record at a time or `publish` at a time.
    static func cLoop(total: UInt64, staged: Bool = false) throws -> Result {
        let ring = SampleRing(capacity: capacity)
        let started = ContinuousClock.now
        let inOrder = telemetry_ring_c_loop(ring.unsafeRing, total, drain, staged ? publish : 1)
        let seconds = (ContinuousClock.now - started).totalSeconds
        guard inOrder == total else { throw BenchError("C ring loop delivered \(inOrder) of \(total) records in order") }
        return Result(name: staged ? "C ring, C-only loop, \(publish) per publish" : "C ring, C-only loop, push per record",
                      samples: total, seconds: seconds)
    }

    /// The `DeviceActor`'s pattern: `RingWriter` writes `publish` samples in place, one publication.
    static func swiftStaged(total: UInt64) throws -> Result {
        let ring = SampleRing(capacity: capacity)
        let buffer = RingDrainBuffer(capacity: drain)
        let writer = RingWriter(ring: ring)
        let seconds = try runPair(
            producer: {
                var i: UInt64 = 0
                while i < total {
                    let n = Swift.min(UInt64(publish), total - i)
                    var k: UInt64 = 0
                    while k < n {
                        let sample = Sample(deviceIndex: UInt32(truncatingIfNeeded: k), metricIndex: 0, timestampMicros: Int64(i + k), value: 1)
                        if writer.append(sample, sequence: i &+ k) { k &+= 1 } else { writer.publish(); sched_yield() }
                    }
                    writer.publish()
                    i &+= n
                }
            },
            consumer: { consume(ring, buffer, total) }, total: total)
        return Result(name: "C ring, Swift staged push (RingWriter in place, \(publish) per publish)", samples: total, seconds: seconds)
    }

    private static func consume(_ ring: SampleRing, _ buffer: RingDrainBuffer, _ total: UInt64) -> UInt64 {
        var received: UInt64 = 0
        var inOrder: UInt64 = 0
        while received < total {
            let n = buffer.drain(ring)
            if n == 0 { sched_yield(); continue }
            for k in 0..<n { inOrder &+= buffer.sequence(at: k) == received &+ UInt64(k) ? 1 : 0 }
            received &+= UInt64(n)
        }
        return inOrder
    }

    /// `SampleRing.push` from a Swift thread, `RingDrainBuffer` draining on another.
    static func swiftRing(total: UInt64) throws -> Result {
        let ring = SampleRing(capacity: capacity)
        let buffer = RingDrainBuffer(capacity: drain)
        let seconds = try runPair(
            producer: {
                var i: UInt64 = 0
                while i < total {
                    let sample = Sample(deviceIndex: UInt32(truncatingIfNeeded: i & 1023), metricIndex: 0, timestampMicros: Int64(i), value: 1)
                    if ring.push(sample, sequence: i) { i &+= 1 } else { sched_yield() }
                }
            },
            consumer: { consume(ring, buffer, total) }, total: total)
        return Result(name: "C ring, Swift nonisolated push per sample", samples: total, seconds: seconds)
    }

    /// A `Mutex<Deque<Sample>>` bounded at the ring's capacity, drained in the same batches.
    static func mutexDeque(total: UInt64) throws -> Result {
        let queue = Shared(Deque<Sample>(minimumCapacity: capacity))
        let seconds = try runPair(
            producer: {
                var i: UInt64 = 0
                while i < total {
                    let sample = Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: Int64(i), value: 1)
                    let pushed = queue.withLock { q -> Bool in
                        guard q.count < capacity else { return false }
                        q.append(sample)
                        return true
                    }
                    if pushed { i &+= 1 } else { sched_yield() }
                }
            },
            consumer: {
                var received: UInt64 = 0
                var inOrder: UInt64 = 0
                var local: [Sample] = []
                local.reserveCapacity(drain)
                while received < total {
                    queue.withLock { q in
                        let n = Swift.min(drain, q.count)
                        for _ in 0..<n { local.append(q.removeFirst()) }
                    }
                    if local.isEmpty { sched_yield(); continue }
                    for (k, sample) in local.enumerated() where sample.timestampMicros == Int64(received) + Int64(k) { inOrder &+= 1 }
                    received &+= UInt64(local.count)
                    local.removeAll(keepingCapacity: true)
                }
                return inOrder
            }, total: total)
        return Result(name: "Mutex-guarded Deque", samples: total, seconds: seconds)
    }

    /// One `AsyncStream` continuation `yield` per sample from a thread, a task consuming it.
    static func asyncStream(total: UInt64) async throws -> Result {
        let (stream, continuation) = AsyncStream<Sample>.makeStream(bufferingPolicy: .unbounded)
        let started = ContinuousClock.now
        let producer = Thread {
            for i in 0..<total {
                continuation.yield(Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: Int64(i), value: 1))
            }
            continuation.finish()
        }
        producer.start()
        var received: UInt64 = 0
        var inOrder: UInt64 = 0
        for await sample in stream {
            if sample.timestampMicros == Int64(received) { inOrder &+= 1 }
            received &+= 1
        }
        let seconds = (ContinuousClock.now - started).totalSeconds
        guard inOrder == total else { throw BenchError("AsyncStream delivered \(inOrder) of \(total) samples in order") }
        return Result(name: "AsyncStream, one yield per sample", samples: total, seconds: seconds)
    }

    /// Runs `producer` and `consumer` on two threads; returns the seconds until both finished.
    private static func runPair(producer: @escaping @Sendable () -> Void, consumer: @escaping @Sendable () -> UInt64,
                                total: UInt64) throws -> Double {
        let done = DispatchSemaphore(value: 0)
        let inOrder = Shared<UInt64>(0)
        let started = ContinuousClock.now
        // Pinned like the C loop: producer on CPU 0, consumer on CPU 1.
        let consumerThread = Thread {
            _ = telemetry_pin_thread(1)
            let delivered = consumer()
            inOrder.withLock { $0 = delivered }
            done.signal()
        }
        let producerThread = Thread {
            _ = telemetry_pin_thread(0)
            producer()
            done.signal()
        }
        consumerThread.start()
        producerThread.start()
        done.wait()
        done.wait()
        let seconds = (ContinuousClock.now - started).totalSeconds
        let delivered = inOrder.value
        guard delivered == total else { throw BenchError("queue delivered \(delivered) of \(total) samples in order") }
        return seconds
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
