public import Logging
import Redis
public import ServiceLifecycle
public import TelemetryCore
import TelemetryRing

/// The hub: device actors → rings → ingest → bounded buffer → publisher → Redis.
///
/// On graceful shutdown the devices stop first, then the ingest actor drains the rings and
/// flushes open batches, then the publisher empties the buffer; `run()` returns after the last
/// batch is in Redis.
///
/// ```swift
/// let hub = HubService(configuration: try HubConfiguration(reader: config), logger: logger)
/// try await ServiceGroup(services: [hub], gracefulShutdownSignals: [.sigterm], logger: logger).run()
/// ```
public final class HubService: Service {
    public let configuration: HubConfiguration
    public let counters = HubCounters()
    private let logger: Logger
    private let onReady: @Sendable (String) -> Void
    private let onStopping: @Sendable () -> Void
    private let heartbeat: @Sendable (String) -> StageHeartbeat

    public init(configuration: HubConfiguration, logger: Logger,
                onReady: @escaping @Sendable (String) -> Void = { _ in },
                onStopping: @escaping @Sendable () -> Void = {},
                heartbeat: @escaping @Sendable (String) -> StageHeartbeat = { StageHeartbeat(name: $0) }) {
        self.heartbeat = heartbeat
        self.configuration = configuration
        self.logger = logger
        self.onReady = onReady
        self.onStopping = onStopping
    }

    public func run() async throws {
        let configuration = self.configuration
        let catalog = DeviceCatalog(router: ShardRouter(shards: configuration.shards))
        var devices: [DeviceActor] = []
        if let simulated = configuration.simulated {
            devices.append(DeviceActor(simulated: simulated, catalog: catalog, ringCapacity: configuration.ringCapacity, counters: counters))
        }
        let buffer = BoundedBuffer<HubBatch>(capacity: configuration.bufferBatches, policy: configuration.fullPolicy)
        let ingest = IngestActor(rings: devices.map(\.ring), catalog: catalog, buffer: buffer, counters: counters,
                                 batchSize: configuration.batchSize, flushIntervalMillis: configuration.flushIntervalMillis,
                                 hubID: configuration.hubID, heartbeat: heartbeat("ingest"))
        let redis = RedisClient(endpoint: configuration.redis, name: "publisher")
        let spool = Spool(directory: configuration.spoolDirectory, segmentBytes: configuration.spoolSegmentBytes,
                          maxBytes: configuration.spoolMaxBytes, fsync: configuration.spoolFsync)
        let recovery = try await spool.open()
        if recovery.badRanges > 0 {
            logger.error("spool damage found and quarantined; good records will be replayed", metadata: [
                "good_records": "\(recovery.records)", "bad_ranges": "\(recovery.badRanges)",
                "quarantined_bytes": "\(recovery.quarantinedBytes)", "quarantine": "\(configuration.spoolDirectory)/quarantine"])
        } else if recovery.records > 0 {
            logger.info("spool holds batches from a previous run; replaying them first", metadata: ["records": "\(recovery.records)"])
        }
        let publisher = PublisherActor(redis: redis, buffer: buffer, spool: spool, keys: configuration.keys, counters: counters,
                                       pipeline: configuration.publisherPipeline, retentionDays: configuration.streamRetentionDays,
                                       spoolFullPolicy: configuration.spoolFullPolicy,
                                       breaker: CircuitBreaker(probeIntervalMillis: Int64(configuration.breakerProbeMillis),
                                                               maxProbeIntervalMillis: Int64(configuration.breakerMaxProbeMillis)),
                                       logger: logger, heartbeat: heartbeat("publisher"))

        await checkRedis(redis)
        let summary = "\(devices.count) bus(es), \(configuration.shards) shards, redis \(configuration.redis)"
        logger.info("hub ready", metadata: ["hub_id": "\(configuration.hubID)", "buses": "\(devices.count)", "shards": "\(configuration.shards)"])
        counters.started.store(1, ordering: .relaxed)
        onReady(summary)

        let devicesTask = Task {
            await withTaskGroup(of: Void.self) { group in
                for device in devices {
                    group.addTask {
                        do { try await device.run() } catch is CancellationError {} catch {
                            self.logger.error("device bus failed", metadata: ["bus": "\(device.name)", "error": "\(error)"])
                        }
                    }
                }
            }
        }
        let logger = self.logger
        let counters = self.counters
        let onStopping = self.onStopping
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await ingest.run() }
                group.addTask { await publisher.run() }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(10))
                        logger.info("hub progress", metadata: ["counters": "\(counters.summary)"])
                    }
                }
                await group.next()
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            onStopping()
            logger.info("hub stopping: draining rings and buffer")
            devicesTask.cancel()
            Task {
                await devicesTask.value
                await ingest.requestStop()
            }
        }
        logger.info("hub stopped", metadata: ["counters": "\(counters.summary)"])
    }

    /// Reports Redis durability settings when Redis answers; an unreachable Redis is not an error
    /// here (batches are spooled until it is back).
    private func checkRedis(_ redis: RedisClient) async {
        do {
            let problems = try await redis.durabilityProblems()
            counters.redisMisconfigured.store(problems.isEmpty ? 0 : 1, ordering: .relaxed)
            for problem in problems {
                logger.warning("redis is not configured for durability", metadata: ["problem": "\(problem)"])
            }
        } catch {
            logger.warning("redis is not reachable yet; batches will be spooled", metadata: ["redis": "\(configuration.redis)", "error": "\(error)"])
        }
    }
}
