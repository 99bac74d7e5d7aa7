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
    @usableFromInline let ring: OpaquePointer

    /// Creates a ring of at least `capacity` records, rounded up to a power of two between 2 and
    /// 2^30 (a larger `capacity` gets 2^30); traps when out of memory.
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
    @inlinable @inline(__always)
    public func push(_ sample: Sample, sequence: UInt64 = 0) -> Bool {
        var record = telemetry_record_t(
            timestamp_us: sample.timestampMicros, value: sample.value, sequence: sequence,
            device_index: sample.deviceIndex, metric_index: sample.metricIndex, flags: 0)
        return telemetry_ring_push(ring, &record)
    }

    /// Pops up to `max` records into `buffer` (which must hold `max` records).
    @usableFromInline @inline(__always)
    func drain(into buffer: UnsafeMutablePointer<telemetry_record_t>, max: Int) -> Int {
        telemetry_ring_pop_batch(ring, buffer, max)
    }

    /// The C ring, for the package's C baseline benchmark only.
    package var unsafeRing: OpaquePointer { ring }
}

/// A reusable drain buffer, allocated once per consumer.
public final class RingDrainBuffer: @unchecked Sendable {
    // @unchecked: used by the single consumer that owns it.
    @usableFromInline let pointer: UnsafeMutablePointer<telemetry_record_t>
    /// The most records one ``drain(_:)`` takes.
    public let capacity: Int

    /// Allocates room for `capacity` records, freed with the buffer.
    public init(capacity: Int) {
        self.capacity = capacity
        pointer = .allocate(capacity: capacity)
    }

    deinit { pointer.deallocate() }

    /// The sample at `index` of the last drain.
    @inlinable @inline(__always)
    public subscript(index: Int) -> Sample {
        let r = pointer[index]
        return Sample(deviceIndex: r.device_index, metricIndex: r.metric_index, timestampMicros: r.timestamp_us, value: r.value)
    }

    /// The producer sequence number of the record at `index`.
    @inlinable @inline(__always)
    public func sequence(at index: Int) -> UInt64 { pointer[index].sequence }

    /// Drains up to ``capacity`` records from `ring`.
    @inlinable @inline(__always)
    public func drain(_ ring: SampleRing) -> Int { ring.drain(into: pointer, max: capacity) }
}

/// A producer's writer: samples go straight into the ring's free slots (streaming stores, no
/// staging copy) and become visible to the consumer with one release store (``publish()``), so a
/// bus that reads many sensors at once pays the ring's synchronisation once per reading, not once
/// per sample.
///
/// ```swift
/// let writer = RingWriter(ring: ring)
/// while !writer.append(sample, sequence: n) { writer.publish(); wait() }  // full: let the consumer in
/// writer.publish()
/// ```
public final class RingWriter: @unchecked Sendable {
    // @unchecked: used by the single producer that owns it. The pending count lives in raw memory,
    // not in a stored property, so the hot path pays no dynamic exclusivity check.
    /// The ring written to; the writer must be its only producer (no ``SampleRing/push(_:sequence:)``
    /// beside it).
    public let ring: SampleRing
    @usableFromInline let state: UnsafeMutablePointer<UInt64>

    /// A writer for `ring`, with nothing pending.
    public init(ring: SampleRing) {
        self.ring = ring
        // Cache-line aligned and padded: the producer writes it at every append, and a line shared
        // with anything the consumer touches would bounce between the cores (measured: 4× slower
        // in some runs, depending on where the allocator put it).
        state = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64).bindMemory(to: UInt64.self, capacity: 1)
        state.initialize(to: 0)
    }

    deinit { UnsafeMutableRawPointer(state).deallocate() }

    /// Samples written and not yet published.
    public var pending: Int { Int(state.pointee) }

    /// Writes one sample after the pending ones; false when the ring has no free slot for it
    /// (``publish()`` what is pending and let the consumer make room).
    @inlinable @inline(__always)
    public func append(_ sample: Sample, sequence: UInt64) -> Bool {
        var record = telemetry_record_t(timestamp_us: sample.timestampMicros, value: sample.value, sequence: sequence,
                                        device_index: sample.deviceIndex, metric_index: sample.metricIndex, flags: 0)
        guard telemetry_ring_stage(ring.ring, state.pointee, &record) else { return false }
        state.pointee &+= 1
        return true
    }

    /// Makes every pending sample visible to the consumer, in order.
    @inlinable @inline(__always)
    public func publish() {
        telemetry_ring_publish(ring.ring, state.pointee)
        state.pointee = 0
    }
}
