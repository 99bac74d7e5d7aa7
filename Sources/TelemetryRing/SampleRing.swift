public import CTelemetryRing
public import TelemetryCore

/// The Swift owner of one C lock-free single-producer single-consumer ring of samples.
///
/// Exactly one task or thread pushes and exactly one drains; pushes are `nonisolated`, take no
/// lock, allocate nothing and never suspend, so a device actor calls them directly.
///
/// ```swift
/// let ring = SampleRing(capacity: 65_536)
/// _ = ring.push(sample)                    // producer
/// let n = ring.drain(into: &buffer, max: 256)  // consumer
/// ```
public final class SampleRing: @unchecked Sendable {
    // @unchecked: the C ring is safe for one producer and one consumer at a time; the roles are
    // fixed by the hub (the owning DeviceActor pushes, the IngestActor drains).
    private let ring: OpaquePointer

    /// Creates a ring of at least `capacity` records (rounded up to a power of two).
    public init(capacity: Int) {
        guard let ring = telemetry_ring_create(UInt32(clamping: capacity)) else {
            fatalError("out of memory allocating a ring of \(capacity) samples")
        }
        self.ring = ring
    }

    deinit { telemetry_ring_destroy(ring) }

    /// The number of records the ring holds when full.
    public var capacity: Int { Int(telemetry_ring_capacity(ring)) }
    /// Records queued now (a snapshot).
    public var count: Int { telemetry_ring_count(ring) }

    /// Pushes one sample; false when the ring is full.
    @inline(__always)
    public func push(_ sample: Sample, sequence: UInt64 = 0) -> Bool {
        var record = telemetry_record_t(
            timestamp_us: sample.timestampMicros, value: sample.value, sequence: sequence,
            device_index: sample.deviceIndex, metric_index: sample.metricIndex, flags: 0)
        return telemetry_ring_push(ring, &record)
    }

    /// Pushes as many of `samples` as fit with one publication; returns how many were pushed.
    public func push(contentsOf records: UnsafeBufferPointer<telemetry_record_t>) -> Int {
        guard let base = records.baseAddress else { return 0 }
        return telemetry_ring_push_batch(ring, base, records.count)
    }

    /// Pops up to `max` records into `buffer` (which must hold `max` records).
    @inline(__always)
    public func drain(into buffer: UnsafeMutablePointer<telemetry_record_t>, max: Int) -> Int {
        telemetry_ring_pop_batch(ring, buffer, max)
    }

    /// Runs the C-only producer/consumer loop over this ring (benchmark baseline). Returns the
    /// number of records received in order.
    public func runCLoop(total: UInt64, drain: Int) -> UInt64 {
        telemetry_ring_c_loop(ring, total, drain)
    }
}

/// A reusable drain buffer, allocated once per consumer.
public final class RingDrainBuffer: @unchecked Sendable {
    // @unchecked: used by the single consumer that owns it.
    public let pointer: UnsafeMutablePointer<telemetry_record_t>
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = capacity
        pointer = .allocate(capacity: capacity)
    }

    deinit { pointer.deallocate() }

    /// The sample at `index` of the last drain.
    @inline(__always)
    public subscript(index: Int) -> Sample {
        let r = pointer[index]
        return Sample(deviceIndex: r.device_index, metricIndex: r.metric_index, timestampMicros: r.timestamp_us, value: r.value)
    }

    /// The producer sequence number of the record at `index`.
    @inline(__always)
    public func sequence(at index: Int) -> UInt64 { pointer[index].sequence }

    /// Drains up to ``capacity`` records from `ring`.
    @inline(__always)
    public func drain(_ ring: SampleRing) -> Int { ring.drain(into: pointer, max: capacity) }
}
