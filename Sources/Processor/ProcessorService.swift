public import Logging
import Postgres
import Redis
public import ServiceLifecycle
public import TelemetryCore

/// The processor: consumer → worker pool (TaskGroup) → storage → acknowledgement.
///
/// On graceful shutdown the consumer stops reading, the workers finish, commit and acknowledge
/// everything already read, and `run()` returns: nothing is left pending.
///
/// ```swift
/// let processor = ProcessorService(configuration: try ProcessorConfiguration(reader: config), logger: logger)
/// try await ServiceGroup(services: [processor], gracefulShutdownSignals: [.sigterm], logger: logger).run()
/// ```
public final class ProcessorService: Service {
    public let configuration: ProcessorConfiguration
    public let counters = ProcessorCounters()
    private let logger: Logger
    private let onReady: @Sendable (String) -> Void
    private let onStopping: @Sendable () -> Void
    private let clock: @Sendable () -> Int64
    private let heartbeat: @Sendable (String) -> StageHeartbeat

    public init(configuration: ProcessorConfiguration, logger: Logger,
                clock: @escaping @Sendable () -> Int64 = wallClockMicros,
                heartbeat: @escaping @Sendable (String) -> StageHeartbeat = { StageHeartbeat(name: $0) },
                onReady: @escaping @Sendable (String) -> Void = { _ in },
                onStopping: @escaping @Sendable () -> Void = {}) {
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        self.heartbeat = heartbeat
        self.onReady = onReady
        self.onStopping = onStopping
    }

    public func run() async throws {
        let configuration = self.configuration
        let logger = self.logger
        let counters = self.counters
        let storage = StorageActor(conninfo: configuration.postgresURL, logger: logger)
        let reader = RedisClient(endpoint: configuration.redis, name: "reader")
        let control = RedisClient(endpoint: configuration.redis, name: "control")
        let acker = RedisClient(endpoint: configuration.redis, name: "acker")
        let queues = (0..<configuration.workers).map { _ in
            BoundedBuffer<WorkItem>(capacity: configuration.workerQueueDepth, policy: .block)
        }
        let faults = FaultSwitches()
        let consumer = ConsumerActor(reader: reader, control: control, queues: queues, configuration: configuration,
                                     counters: counters, logger: logger, heartbeat: heartbeat("consumer"), faults: faults)

        // Readiness probe: both dependencies, every second, for /ready and the metrics.
        let probe = Task {
            while !Task.isCancelled {
                counters.postgresReachable.store(await storage.ping() ? 1 : 0, ordering: .relaxed)
                let redisUp = (try? await control.send(["PING"])) != nil
                counters.redisReachable.store(redisUp ? 1 : 0, ordering: .relaxed)
                try? await Task.sleep(for: .seconds(1))
            }
        }
        defer { probe.cancel() }
        guard await waitForDependencies(storage: storage, control: control, consumer: consumer) else { return }
        counters.started.store(1, ordering: .relaxed)
        let clock = self.clock
        let maintainPartitions: @Sendable () async -> Void = {
            do {
                try await storage.maintainPartitions(nowMicros: clock(), aheadDays: configuration.partitionsAheadDays,
                                                     retentionDays: configuration.retentionDays,
                                                     aggregateRetentionDays: configuration.aggregateRetentionDays)
            } catch {
                logger.error("partition maintenance failed", metadata: ["error": "\(error)"])
            }
        }
        await maintainPartitions()
        logger.info("processor ready", metadata: ["consumer": "\(configuration.consumerName)", "workers": "\(configuration.workers)",
                                                  "shards": "\(configuration.shards)"])
        onReady("consumer \(configuration.consumerName), \(configuration.workers) workers, \(configuration.shards) shards")

        let acknowledger = Acknowledger(redis: acker, keys: configuration.keys, group: configuration.group, consumer: configuration.consumerName)
        let deadLetters = DeadLetterWriter(redis: control, keys: configuration.keys, counters: counters, logger: logger)
        let retries = RetryLedger(redis: acker, keys: configuration.keys, logger: logger)
        let workerHeartbeats = (0..<configuration.workers).map { heartbeat("worker-\($0)") }
        let onStopping = self.onStopping

        await withTaskGroup(of: Void.self) { background in
            background.addTask {
                while !Task.isCancelled {
                    do {
                        try await consumer.maintain()
                    } catch {
                        logger.warning("lease maintenance failed", metadata: ["error": "\(error)"])
                    }
                    try? await Task.sleep(for: .milliseconds(configuration.leaseRenewMillis))
                }
            }
            background.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(configuration.partitionIntervalSeconds))
                    if Task.isCancelled { break }
                    await maintainPartitions()
                }
            }
            background.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(10))
                    if Task.isCancelled { break }
                    logger.info("processor progress", metadata: ["counters": "\(counters.summary)"])
                }
            }
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { pool in
                    for index in 0..<configuration.workers {
                        pool.addTask {
                            var worker = Worker(index: index, queue: queues[index], storage: storage, acknowledger: acknowledger,
                                                deadLetters: deadLetters, retries: retries, faults: faults,
                                                heartbeat: workerHeartbeats[index], counters: counters,
                                                configuration: configuration, logger: logger)
                            await worker.run()
                        }
                    }
                    pool.addTask { await consumer.run() }
                }
                await consumer.releaseAll()
            } onGracefulShutdown: {
                onStopping()
                logger.info("processor stopping: finishing in-flight work")
            }
            background.cancelAll()
        }
        logger.info("processor stopped", metadata: ["counters": "\(counters.summary)"])
    }

    /// Waits until PostgreSQL (migrated) and Redis (groups created) are reachable; false if the
    /// service is asked to stop first.
    private func waitForDependencies(storage: StorageActor, control: RedisClient, consumer: ConsumerActor) async -> Bool {
        var backoff = Duration.milliseconds(100)
        var postgresReady = false
        var redisReady = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if !postgresReady {
                do {
                    let applied = try await storage.prepare()
                    if !applied.isEmpty { logger.info("schema migrated", metadata: ["versions": "\(applied)"]) }
                    postgresReady = true
                } catch {
                    logger.warning("waiting for postgres", metadata: ["error": "\(error)"])
                }
            }
            if !redisReady {
                do {
                    try await consumer.createGroups()
                    let problems = try await control.durabilityProblems()
                    counters.redisMisconfigured.store(problems.isEmpty ? 0 : 1, ordering: .relaxed)
                    for problem in problems {
                        logger.warning("redis is not configured for durability", metadata: ["problem": "\(problem)"])
                    }
                    redisReady = true
                } catch {
                    logger.warning("waiting for redis", metadata: ["redis": "\(configuration.redis)", "error": "\(error)"])
                }
            }
            if postgresReady && redisReady { return true }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
        return false
    }
}
