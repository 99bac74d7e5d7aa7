import Foundation
import CTelemetryRingBench
import Synchronization
import TelemetryCore
import TelemetryRing
import Testing

@Suite("SampleRing")
struct SampleRingTests {
    @Test("capacity rounds up to a power of two; push fails only when full")
    func capacityAndFull() {
        let ring = SampleRing(capacity: 5)
        #expect(ring.capacity == 8)
        for i in 0..<8 {
            #expect(ring.push(Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: Int64(i), value: 0), sequence: UInt64(i)))
        }
        #expect(!ring.push(Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: 9, value: 0)))
        #expect(ring.count == 8)
        let buffer = RingDrainBuffer(capacity: 3)
        #expect(buffer.drain(ring) == 3)
        #expect(buffer.sequence(at: 0) == 0 && buffer.sequence(at: 2) == 2)
        #expect(ring.push(Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: 10, value: 0), sequence: 8))
    }

    @Test("concurrent producer and consumer: every record once, in order, across many wrap-arounds",
          arguments: [16, 1024])
    func concurrentOrder(capacity: Int) async {
        let ring = SampleRing(capacity: capacity)
        let total: UInt64 = 2_000_000
        let producer = Thread {
            var sequence: UInt64 = 0
            while sequence < total {
                let sample = Sample(deviceIndex: UInt32(sequence % 7), metricIndex: UInt16(sequence % 3),
                                    timestampMicros: Int64(sequence), value: Double(sequence))
                if ring.push(sample, sequence: sequence) { sequence += 1 }
            }
        }
        producer.start()
        await Self.expectInOrder(ring, total: total)
    }

    @Test("the C-only loop moves every record in order, pushed one at a time or written in place",
          arguments: [1, 64, 1000])
    func cLoop(publish: Int) {
        let ring = SampleRing(capacity: 1024)
        #expect(telemetry_ring_c_loop(ring.unsafeRing, 1_000_000, 256, publish) == 1_000_000)
    }

    @Test("a writer's samples are invisible until published, and it stops at a full ring")
    func writerPublishes() {
        let ring = SampleRing(capacity: 8)
        let writer = RingWriter(ring: ring)
        let buffer = RingDrainBuffer(capacity: 16)
        for i in 0..<5 {
            #expect(writer.append(Sample(deviceIndex: 1, metricIndex: 2, timestampMicros: Int64(i), value: Double(i)), sequence: UInt64(i)))
        }
        #expect(writer.pending == 5)
        #expect(buffer.drain(ring) == 0)
        writer.publish()
        #expect(writer.pending == 0)
        for i in 5..<8 {
            #expect(writer.append(Sample(deviceIndex: 1, metricIndex: 2, timestampMicros: Int64(i), value: Double(i)), sequence: UInt64(i)))
        }
        // Five published and three pending fill the ring: the ninth has no slot.
        #expect(!writer.append(Sample(deviceIndex: 1, metricIndex: 2, timestampMicros: 8, value: 8), sequence: 8))
        #expect(buffer.drain(ring) == 5)
        #expect(writer.append(Sample(deviceIndex: 1, metricIndex: 2, timestampMicros: 8, value: 8), sequence: 8))
        writer.publish()
        #expect(buffer.drain(ring) == 4)
        let s = buffer[3]
        #expect(buffer.sequence(at: 3) == 8 && s.timestampMicros == 8 && s.value == 8 && s.deviceIndex == 1 && s.metricIndex == 2)
    }

    @Test("a writer on one thread and a consumer on another: every record once, in order, across wrap-arounds",
          arguments: [16, 1024])
    func writerConcurrentOrder(capacity: Int) async {
        let ring = SampleRing(capacity: capacity)
        let total: UInt64 = 2_000_000
        let producer = Thread {
            let writer = RingWriter(ring: ring)
            var sequence: UInt64 = 0
            while sequence < total {
                let sample = Sample(deviceIndex: UInt32(sequence % 7), metricIndex: UInt16(sequence % 3),
                                    timestampMicros: Int64(sequence), value: Double(sequence))
                if writer.append(sample, sequence: sequence) {
                    sequence += 1
                    if sequence % 37 == 0 { writer.publish() }
                } else {
                    writer.publish()
                }
            }
            writer.publish()
        }
        producer.start()
        await Self.expectInOrder(ring, total: total)
    }

    /// Drains `total` records of a producer that writes sequence n as (device n % 7, metric n % 3,
    /// time n, value n), and expects each exactly once, in order, with nothing left behind.
    static func expectInOrder(_ ring: SampleRing, total: UInt64) async {
        let buffer = RingDrainBuffer(capacity: 256)
        var expected: UInt64 = 0
        var mismatches = 0
        while expected < total {
            let n = buffer.drain(ring)
            for i in 0..<n {
                let s = buffer[i]
                if buffer.sequence(at: i) != expected || s.timestampMicros != Int64(expected) || s.value != Double(expected)
                    || s.deviceIndex != UInt32(expected % 7) || s.metricIndex != UInt16(expected % 3) {
                    mismatches += 1
                }
                expected += 1
            }
            if n == 0 { await Task.yield() }
        }
        #expect(mismatches == 0)
        #expect(expected == total)
        #expect(ring.count == 0)
    }
}
