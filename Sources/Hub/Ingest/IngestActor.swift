public import TelemetryCore
public import TelemetryRing

/// Drains the device rings in batches, groups samples per shard into ``HubBatch``es and hands
/// them to the bounded buffer in front of the publisher.
///
/// A batch closes when it holds `batchSize` samples or its first sample is `flushInterval` old,
/// and (`flushWhenIdle`) once the rings stay empty over a back-off pause (2 ms): the burst the
/// batch belongs to (a bus's reading) is over, and waiting for the age limit would only add
/// latency. A stream that leaves no such pause keeps filling its batches to the size or age limit.
/// Under the `block` policy a full buffer suspends this actor, the rings fill, and the devices
/// wait: nothing is lost. Under `drop_oldest` the buffer drops (and counts) its oldest batch.
public actor IngestActor {
    private let rings: [SampleRing]
    private let catalog: DeviceCatalog
    private let buffer: BoundedBuffer<QueuedBatch>
    private let counters: HubCounters
    private let batchSize: Int
    private let flush: FlushRule
    /// `<hub.id>-<epoch>`: the epoch (this actor's start, microseconds in base 36) keeps batch ids
    /// unique across restarts of a hub with a fixed `hub.id`, whose sequence starts at 1 again.
    private let batchPrefix: String
    private var snapshot: DeviceCatalog.Snapshot
    private var builders: [ShardBatchBuilder]
    private var sequence: UInt64 = 0
    /// Records taken from a ring at a time.
    package static let drainBatch = 1024
    private let drain = RingDrainBuffer(capacity: drainBatch)
    private var stopRequested = false
    private var ready: [HubBatch] = []
    private var idleRounds = 0
    private let heartbeat: StageHeartbeat

    /// Drains `rings` into batches of at most `batchSize` samples per shard, closing an open batch
    /// after `flushIntervalMillis` (or once the rings stay empty, with `flushWhenIdle`), and hands
    /// them to `buffer` under its full policy. Batch ids are `hubID`, an epoch and a sequence.
    public init(rings: [SampleRing], catalog: DeviceCatalog, buffer: BoundedBuffer<QueuedBatch>, counters: HubCounters,
                batchSize: Int, flushIntervalMillis: Int, flushWhenIdle: Bool = true, hubID: String,
                heartbeat: StageHeartbeat = StageHeartbeat(name: "ingest")) {
        self.heartbeat = heartbeat
        self.rings = rings
        self.catalog = catalog
        self.buffer = buffer
        self.counters = counters
        // A batch's device and metric tables are counted in u16 on the wire; a batch of at most
        // 65 535 samples cannot name more.
        self.batchSize = min(batchSize, HubBatchCodec.maxTableEntries)
        flush = FlushRule(intervalMillis: flushIntervalMillis, whenIdle: flushWhenIdle)
        batchPrefix = "\(hubID)-\(String(UInt64(clamping: wallClockMicros()), radix: 36))"
        snapshot = catalog.snapshot()
        builders = (0..<catalog.router.shards).map { _ in ShardBatchBuilder() }
    }

    /// Asks the actor to drain what is left, flush every open batch, finish the buffer and return.
    public func requestStop() { stopRequested = true }

    /// Runs until ``requestStop()`` and every ring is empty.
    public func run() async {
        while true {
            heartbeat.beat()
            // Cancellation (the supervisor escalating) ends the loop like a stop request.
            let stopping = stopRequested || Task.isCancelled
            var drained = 0
            for ring in rings {
                while true {
                    let n = drain.drain(ring)
                    if n == 0 { break }
                    drained += n
                    for i in 0..<n { add(drain[i]) }
                    if n < drain.capacity { break }
                }
            }
            let now = wallClockMicros()
            for shard in builders.indices where builders[shard].count > 0
                && flush.closes(openedAtMicros: builders[shard].openedAtMicros, nowMicros: now, drained: drained,
                                idlePasses: idleRounds, stopping: stopping) {
                close(shard: shard, now: now)
            }
            for batch in ready { await publish(batch) }
            ready.removeAll(keepingCapacity: true)
            if stopping && drained == 0 {
                buffer.finish()
                return
            }
            // Poll the rings: again at once after a pass that drained something, then every 2 ms
            // (measured: a longer back-off shows up directly in the p99 at low rates).
            idleRounds = drained == 0 ? min(idleRounds + 1, 1) : 0
            if drained == 0 { try? await Task.sleep(for: .milliseconds(1 << idleRounds)) }
        }
    }

    @inline(__always)
    private func add(_ sample: Sample) {
        let device = Int(sample.deviceIndex)
        if device >= snapshot.devices.count || Int(sample.metricIndex) >= snapshot.metrics.count {
            snapshot = catalog.snapshot()
        }
        let shard = snapshot.shards[device]
        if builders[shard].count == 0 { builders[shard].openedAtMicros = wallClockMicros() }
        builders[shard].add(sample, snapshot: snapshot)
        if builders[shard].count >= batchSize { close(shard: shard, now: wallClockMicros()) }
    }

    private func close(shard: Int, now: Int64) {
        sequence += 1
        let batch = builders[shard].take(id: "\(batchPrefix)-\(sequence)", shard: shard, now: now)
        counters.batchesBuilt.add(1, ordering: .relaxed)
        ready.append(batch)
    }

    private func publish(_ batch: HubBatch) async {
        switch await heartbeat.waiting({ await buffer.push(QueuedBatch(batch)) }) {
        case .enqueued, .finished:
            break
        case .enqueuedDropping(let dropped):
            counters.batchesDropped.add(1, ordering: .relaxed)
            counters.samplesDropped.add(dropped.batch.samples.count, ordering: .relaxed)
        case .dropped:
            counters.batchesDropped.add(1, ordering: .relaxed)
            counters.samplesDropped.add(batch.samples.count, ordering: .relaxed)
        }
    }

    /// Takes the readings of one HTTP request: batches of their own per shard (so the request's
    /// ticket completes when exactly they are durable), marked acknowledged so no drop policy
    /// drops them, and queued only if the buffer has room for all of them now. When it has not,
    /// the hub is applying backpressure and the client is told to come back (429).
    package enum Admission: Sendable {
        /// Queued; `token` names the batches (the 202's `X-Ingest-Token`).
        case queued(DurabilityTicket, token: IngestToken)
        case busy
        case stopping
        /// More batches than the buffer holds: the request can never fit, whatever the load.
        case tooLarge(batches: Int, capacity: Int)
    }

    /// Queues `batches` (from ``batches(for:router:batchSize:)``) all or nothing.
    package func admit(_ batches: [HubBatch]) -> Admission {
        guard !stopRequested, !Task.isCancelled else { return .stopping }
        guard batches.count <= buffer.capacity else { return .tooLarge(batches: batches.count, capacity: buffer.capacity) }
        let ticket = DurabilityTicket(batches: batches.count)
        let first = sequence + 1
        let queued = batches.map { batch in
            sequence += 1
            var batch = batch
            batch.id = "\(batchPrefix)-\(sequence)"
            return QueuedBatch(batch, ticket: ticket)
        }
        guard buffer.tryPush(contentsOf: queued) else {
            sequence = first - 1  // nothing was queued: the numbers are free again
            return buffer.isFinished ? .stopping : .busy
        }
        counters.batchesBuilt.add(batches.count, ordering: .relaxed)
        return .queued(ticket, token: IngestToken(prefix: batchPrefix, first: Int(first), last: Int(sequence)))
    }

    /// The batches of one request's readings, per shard, at most `batchSize` samples each (ids
    /// are given by ``admit(_:)``). Pure work, run on the request worker's thread, not on this actor.
    package static func batches(for readings: [SampleReading], router: ShardRouter, batchSize: Int, tenant: String = "") -> [HubBatch] {
        let now = wallClockMicros()
        var perShard = [[Int]](repeating: [], count: router.shards)
        for (index, reading) in readings.enumerated() { perShard[router.shard(of: reading.deviceID)].append(index) }
        var batches: [HubBatch] = []
        for (shard, indexes) in perShard.enumerated() where !indexes.isEmpty {
            var builder = NamedBatchBuilder(shard: shard, createdMicros: now, tenant: tenant)
            for index in indexes {
                let reading = readings[index]
                // At most 65 535 samples and labels, so the u16 device and metric tables cannot overflow.
                func roomForOne() {
                    if builder.batch.samples.count + builder.batch.labels.count >= min(batchSize, HubBatchCodec.maxTableEntries) {
                        batches.append(builder.batch)
                        builder = NamedBatchBuilder(shard: shard, createdMicros: now, tenant: tenant)
                    }
                }
                for metric in reading.metrics {
                    roomForOne()
                    builder.add(device: reading.deviceID, metric: metric.name, timestampMicros: reading.timestampMicros, value: metric.value)
                }
                for label in reading.labels {
                    roomForOne()
                    builder.add(device: reading.deviceID, label: label, timestampMicros: reading.timestampMicros)
                }
            }
            batches.append(builder.batch)
        }
        return batches
    }
}

/// A batch built from named samples (HTTP ingest), with its device and metric tables.
struct NamedBatchBuilder {
    var batch: HubBatch
    private var devices: [String: UInt32] = [:]
    private var metrics: [String: UInt16] = [:]
    /// Position in `batch.labels` of each device's label per kind and key: one label each, the latest.
    private var labels: [LabelKey: Int] = [:]

    private struct LabelKey: Hashable {
        var device: UInt32
        var kind: DeviceLabel.Kind
        var key: String
    }

    init(shard: Int, createdMicros: Int64, tenant: String = "") {
        batch = HubBatch(id: "", shard: shard, createdMicros: createdMicros, acknowledged: true, tenant: tenant)
    }

    mutating func add(device: String, metric: String, timestampMicros: Int64, value: Double) {
        let d = Self.index(of: device, in: &batch.devices, &devices)
        let m = Self.index(of: metric, in: &batch.metrics, &metrics)
        batch.samples.append(Sample(deviceIndex: d, metricIndex: m, timestampMicros: timestampMicros, value: value))
    }

    /// Records `label` of `device`, seen at `timestampMicros`, unless the batch has a later one for
    /// the same kind and key (of equal times, the later in the body wins).
    mutating func add(device: String, label: DeviceLabel, timestampMicros: Int64) {
        let d = Self.index(of: device, in: &batch.devices, &devices)
        let key = LabelKey(device: d, kind: label.kind, key: label.key)
        let entry = BatchLabel(deviceIndex: d, timestampMicros: timestampMicros, label: label)
        if let position = labels[key] {
            if batch.labels[position].timestampMicros <= timestampMicros { batch.labels[position] = entry }
        } else {
            labels[key] = batch.labels.count
            batch.labels.append(entry)
        }
    }

    /// The position of `name` in the batch's `table`, appending it the first time.
    private static func index<Index: FixedWidthInteger>(of name: String, in table: inout [String], _ known: inout [String: Index]) -> Index {
        if let index = known[name] { return index }
        let index = Index(table.count)
        table.append(name)
        known[name] = index
        return index
    }
}

/// Collects the samples of one shard with batch-local device and metric tables.
struct ShardBatchBuilder {
    var devices: [String] = []
    var metrics: [String] = []
    var deviceMap: [Int32] = []
    var metricMap: [Int32] = []
    var usedDevices: [Int] = []
    var usedMetrics: [Int] = []
    var samples: [Sample] = []
    var openedAtMicros: Int64 = 0

    var count: Int { samples.count }

    @inline(__always)
    mutating func add(_ sample: Sample, snapshot: DeviceCatalog.Snapshot) {
        let device = Int(sample.deviceIndex)
        let metric = Int(sample.metricIndex)
        if device >= deviceMap.count { deviceMap.append(contentsOf: repeatElement(-1, count: snapshot.devices.count - deviceMap.count)) }
        if metric >= metricMap.count { metricMap.append(contentsOf: repeatElement(-1, count: snapshot.metrics.count - metricMap.count)) }
        var localDevice = deviceMap[device]
        if localDevice < 0 {
            localDevice = Int32(devices.count)
            devices.append(snapshot.devices[device])
            deviceMap[device] = localDevice
            usedDevices.append(device)
        }
        var localMetric = metricMap[metric]
        if localMetric < 0 {
            localMetric = Int32(metrics.count)
            metrics.append(snapshot.metrics[metric])
            metricMap[metric] = localMetric
            usedMetrics.append(metric)
        }
        samples.append(Sample(deviceIndex: UInt32(localDevice), metricIndex: UInt16(localMetric),
                              timestampMicros: sample.timestampMicros, value: sample.value))
    }

    mutating func take(id: String, shard: Int, now: Int64) -> HubBatch {
        let batch = HubBatch(id: id, shard: shard, createdMicros: now, devices: devices, metrics: metrics, samples: samples)
        for d in usedDevices { deviceMap[d] = -1 }
        for m in usedMetrics { metricMap[m] = -1 }
        usedDevices.removeAll(keepingCapacity: true)
        usedMetrics.removeAll(keepingCapacity: true)
        devices = []
        metrics = []
        samples = []
        samples.reserveCapacity(batch.samples.count)
        return batch
    }
}
