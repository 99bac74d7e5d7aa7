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
    // into per-shard batches (IngestActor) and encoded once (PublisherActor). 10 000 samples per
    // iteration, so allocations per sample = mallocs / 10 000.
    Benchmark("hub steady state, 10 000 samples: ring → batches → encoded",
              configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(3))) { benchmark in
        let catalog = DeviceCatalog(router: ShardRouter(shards: 8))
        let devices = (0..<1000).map { catalog.device("sensor_\($0)") }
        let metric = catalog.metric("temperature")
        let ring = SampleRing(capacity: 65_536)
        let staging = RingPushBuffer(capacity: 3000)
        let buffer = BoundedBuffer<HubBatch>(capacity: 4096, policy: .block)
        let ingest = IngestActor(rings: [ring], catalog: catalog, buffer: buffer, counters: HubCounters(),
                                 batchSize: 1000, flushIntervalMillis: 5, hubID: "bench")
        let running = Task { await ingest.run() }
        var sequence: UInt64 = 0
        var timestamp: Int64 = 1_700_000_000_000_000
        // Warm up once outside the measurement: the builders and tables reach their steady size.
        func roundTrip(_ total: Int) async {
            var published = 0
            while published < total {
                for device in devices.prefix(min(1000, total - published)) {
                    sequence &+= 1
                    staging.append(Sample(deviceIndex: device, metricIndex: metric, timestampMicros: timestamp, value: 21.5), sequence: sequence)
                }
                published += min(1000, total - published)
                while !staging.push(to: ring) { await Task.yield() }
                timestamp += 1000
            }
            var received = 0
            while received < total, let batches = await buffer.next(max: 64) {
                for b in batches {
                    received += b.samples.count
                    blackHole(EncodedBatch(b))
                }
            }
        }
        await roundTrip(10_000)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { await roundTrip(10_000) }
        benchmark.stopMeasurement()
        await ingest.requestStop()
        running.cancel()
    }
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
