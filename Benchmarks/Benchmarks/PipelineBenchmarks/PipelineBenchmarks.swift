import Benchmark
import Hub
import TelemetryCore
import TelemetryRing

/// Allocations and time of the hub → processor codecs and of the hub's steady state. Run with
/// `make microbench`; the malloc counts are what shows "no allocation per sample": they are per
/// batch of 1 000 samples, not per sample.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(2))

    let batch = sampleBatch(samples: 1000)
    let encoded = HubBatchCodec.encode(batch)

    Benchmark("HubBatch encode, 1 000 samples") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(HubBatchCodec.encode(batch)) }
    }

    Benchmark("HubBatch decode, 1 000 samples") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try HubBatchCodec.decode(encoded)) }
    }

    let seedTask = Array(#"{"id": "task-1", "type": "telemetry.analyze", "payload": {"device_id": "sensor_001", "timestamp": "2025-12-26T10:30:00Z", "temperature": 22.5, "humidity": 45.2, "pressure": 1013.25, "raw_data": "opaque"}, "priority": "normal", "max_retries": 2}"#.utf8)
    Benchmark("seed JSON task decode, one task") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try TelemetryTaskCodec.decode(seedTask)) }
    }

    // The hub's steady state: a reading staged and published into the ring (DeviceActor), drained
    // into per-shard batches (IngestActor) and encoded once (PublisherActor). Run twice, with the
    // samples per iteration and the batch size both doubled: the same number of batches carries
    // twice the samples, so if no allocation happens per sample the malloc count stays the same.
    for (samples, batchSize) in [(10_000, 1000), (20_000, 2000)] {
        Benchmark("hub steady state, \(samples) samples in batches of \(batchSize): ring → batches → encoded",
                  configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(3))) { benchmark in
            await steadyState(benchmark, samples: samples, batchSize: batchSize)
        }
    }
}

/// Stages, publishes, drains and encodes `samples` samples of 1 000 devices per iteration.
func steadyState(_ benchmark: Benchmark, samples total: Int, batchSize: Int) async {
    // One shard, so every iteration closes exactly total / batchSize batches.
    let catalog = DeviceCatalog(router: ShardRouter(shards: 1))
    let devices = (0..<1000).map { catalog.device("sensor_\($0)") }
    let metric = catalog.metric("temperature")
    let ring = SampleRing(capacity: 65_536)
    let writer = RingWriter(ring: ring)
    let buffer = BoundedBuffer<QueuedBatch>(capacity: 4096, policy: .block)
    // A long flush interval: batches close on size only, so their number is fixed per iteration.
    let ingest = IngestActor(rings: [ring], catalog: catalog, buffer: buffer, counters: HubCounters(),
                             batchSize: batchSize, flushIntervalMillis: 60_000, flushWhenIdle: false, hubID: "bench")
    let running = Task { await ingest.run() }
    var sequence: UInt64 = 0
    var timestamp: Int64 = 1_700_000_000_000_000
    func roundTrip() async {
        var published = 0
        while published < total {
            for device in devices {
                sequence &+= 1
                let sample = Sample(deviceIndex: device, metricIndex: metric, timestampMicros: timestamp, value: 21.5)
                while !writer.append(sample, sequence: sequence) {
                    writer.publish()
                    await Task.yield()
                }
            }
            published += devices.count
            writer.publish()
            timestamp += 1000
        }
        var received = 0
        while received < total, let batches = await buffer.next(max: 64) {
            for b in batches {
                received += b.batch.samples.count
                blackHole(EncodedBatch(b.batch))
            }
        }
    }
    // Warm up outside the measurement until the builders and tables reach their steady size.
    for _ in 0..<3 { await roundTrip() }
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations { await roundTrip() }
    benchmark.stopMeasurement()
    await ingest.requestStop()
    running.cancel()
}

func sampleBatch(samples: Int) -> HubBatch {
    var batch = HubBatch(id: "hub-1-42", shard: 3, createdMicros: 1_700_000_000_000_000)
    batch.devices = (0..<125).map { "sensor_\($0)" }
    batch.metrics = ["temperature", "humidity", "pressure"]
    for i in 0..<samples {
        batch.samples.append(Sample(deviceIndex: UInt32(i / 3 % 125), metricIndex: UInt16(i % 3),
                                    timestampMicros: 1_700_000_000_000_000 + Int64(i / 375) * 33_000, value: 20 + Double(i % 17) * 0.1))
    }
    return batch
}
