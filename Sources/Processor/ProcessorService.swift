import Logging
import Postgres
import Redis
import ServiceLifecycle
import TelemetryCore
import Supervision

/// The processor: consumer → worker pool (TaskGroup) → storage → acknowledgement.
///
/// On graceful shutdown the consumer stops reading, the workers finish, commit and acknowledge
/// everything already read, and `run()` returns: nothing is left pending.
///
/// ```swift
/// let processor = ProcessorService(configuration: try ProcessorConfiguration(reader: config), logger: logger)
/// try await ServiceGroup(services: [processor], gracefulShutdownSignals: [.sigterm], logger: logger).run()
/// ```
package final class ProcessorService: Service {
    package let configuration: ProcessorConfiguration
    package let counters = ProcessorCounters()
    /// Owns the consumer, the workers and the maintenance tasks; its children are in `status`.
    package let supervisor: Supervisor
    /// Thresholds and anomaly rules, replaced by ``reload(_:)``.
    package let analysisSettings: Reloadable<AnalysisSettings>
    private let logger: Logger
    private let onReady: @Sendable (String) -> Void
    private let onStopping: @Sendable () -> Void
    private let clock: @Sendable () -> Int64
    private let heartbeat: @Sendable (String) -> StageHeartbeat

    package init(configuration: ProcessorConfiguration, logger: Logger,
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
        supervisor = Supervisor(policy: configuration.restartPolicy, logger: logger)
        analysisSettings = Reloadable(configuration.analysis)
    }

    /// Applies what a reload may change (thresholds, anomaly rules); returns what changed.
    package func reload(_ new: ProcessorConfiguration) -> [String] {
        if new.metricUnits != configuration.metricUnits || new.validation != configuration.validation {
            // Ranges and units are read at start only; a reload applies the thresholds alone.
            logger.warning("metrics.names, metrics.<name>.unit and validation.* changes apply at the next start; thresholds apply now")
        }
        let old = analysisSettings.value
        guard new.analysis != old else { return [] }
        analysisSettings.update(new.analysis)
        var changed: [String] = []
        for metric in Set(old.thresholds.keys).union(new.analysis.thresholds.keys).sorted()
        where old.thresholds[metric] != new.analysis.thresholds[metric] {
            changed.append("thresholds.\(metric)")
        }
        if old.zScore != new.zScore { changed.append("anomaly.zscore") }
        if old.minSamples != new.anomalyMinSamples { changed.append("anomaly.min_samples") }
        return changed
    }

    /// Keeps the dead-letter stream under `dead_letters.max_bytes` (Redis's own estimate,
    /// `MEMORY USAGE`): the oldest entries past it are trimmed, counted and logged. A full Redis
    /// must not be filled further by a flood of bad input.
    func capDeadLetters(_ redis: RedisClient) async {
        let key = configuration.redis.keys.deadLetters
        guard let usage = try? await redis.send(["MEMORY", "USAGE", key]).int, usage > configuration.deadLetterMaxBytes,
              let length = try? await redis.send(["XLEN", key]).int, length > 0 else { return }
        let keep = Int(Double(length) * Double(configuration.deadLetterMaxBytes) / Double(usage) * 0.9)
        guard let evicted = try? await redis.send(["XTRIM", key, "MAXLEN", String(keep)]).int, evicted > 0 else { return }
        counters.deadLettersEvicted.add(evicted, ordering: .relaxed)
        logger.error("dead letters over dead_letters.max_bytes: the oldest were deleted",
                     metadata: ["evicted": "\(evicted)", "kept": "\(keep)", "bytes": "\(usage)", "max_bytes": "\(configuration.deadLetterMaxBytes)"])
    }

    /// Mirrors PostgreSQL's metric names into ``RedisKeys/metricNames``, where hubs check new names
    /// against `validation.max_metric_names` before answering 202: the names added since `after`,
    /// or all of them when Redis holds fewer than PostgreSQL (a FLUSHALL). Returns the last id seen.
    func mirrorMetricNames(storage: StorageActor, redis: RedisClient, after: Int32) async -> Int32 {
        let key = configuration.redis.keys.metricNames
        var last = after
        if let inRedis = try? await redis.send(["SCARD", key]).int,
           let (_, total) = try? await storage.metricNames(after: Int32.max, limit: 0) {
            if inRedis >= configuration.maxMetricNames && total < configuration.maxMetricNames {
                // Full of names hubs admitted that were never stored (their samples were refused
                // later, say as too old): rebuilt from PostgreSQL, the authority, so valid new names
                // are not refused for good.
                _ = try? await redis.send(["DEL", key])
                logger.warning("the metric name set was full of names never stored; rebuilt from PostgreSQL",
                               metadata: ["in_redis": "\(inRedis)", "in_postgres": "\(total)"])
                last = 0
            } else if inRedis < total {
                last = 0
            }
        }
        while let (names, _) = try? await storage.metricNames(after: last, limit: 1000), !names.isEmpty {
            guard (try? await redis.send(RedisCommand(["SADD", key] + names.map(\.name)))) != nil else { return last }
            last = names.last!.id
        }
        return last
    }

    package func run() async throws {
        let configuration = self.configuration
        let logger = self.logger
        let counters = self.counters
        let positionBook = StreamPositionBook(streams: (0..<configuration.shards).map { configuration.redis.keys.stream($0) })
        let storages = (0..<configuration.storage.connections).map {
            StorageActor(conninfo: configuration.storage.url, logger: logger, name: "storage-\($0)", maxGroupRows: configuration.storage.groupRows,
                         maxMetricNames: configuration.maxMetricNames,
                         cache: configuration.cacheEnabled
                            ? LatestCacheWriter(endpoint: configuration.redis.endpoint, keys: configuration.redis.keys, name: "cache-writer-\($0)")
                            : nil,
                         defaultTenant: configuration.tenants.defaultTenant, positions: positionBook)
        }
        let storage = storages[0]  // migrations, probes and partition maintenance
        let reader = RedisClient(endpoint: configuration.redis.endpoint, name: "reader")
        // Dead letters, retry state and acknowledgements must succeed: while Redis refuses them
        // (OOM at maxmemory) this stage reads as stalled, and the watchdog acts on it.
        let refusals = heartbeat("redis-writes")
        let control = RedisClient(endpoint: configuration.redis.endpoint, name: "control", refusals: refusals)
        let acker = RedisClient(endpoint: configuration.redis.endpoint, name: "acker", refusals: refusals)
        let consumerHeartbeat = heartbeat("consumer")
        let pool = WorkerPool(configuration: configuration, heartbeat: heartbeat)
        let faults = FaultSwitches()
        let inFlight = InFlight()
        let consumer = ConsumerActor(reader: reader, control: control, queues: pool.queues, configuration: configuration,
                                     counters: counters, logger: logger, heartbeat: consumerHeartbeat, faults: faults, inFlight: inFlight,
                                     positionBook: positionBook, positionStorage: storage)

        // Readiness probe: both dependencies, every second, for /ready and the metrics.
        let probe = Task {
            var probes = 0
            var lastMetricID: Int32 = 0
            while !Task.isCancelled {
                counters.postgresReachable.store(await storage.ping() ? 1 : 0, ordering: .relaxed)
                let redisUp = (try? await control.send(["PING"])) != nil
                counters.redisReachable.store(redisUp ? 1 : 0, ordering: .relaxed)
                counters.workerQueueDepth.store(pool.queued, ordering: .relaxed)
                counters.storageTransactions.store(storages.reduce(0) { $0 + $1.groups.load(ordering: .relaxed) }, ordering: .relaxed)
                counters.storageBatches.store(storages.reduce(0) { $0 + $1.groupedBatches.load(ordering: .relaxed) }, ordering: .relaxed)
                let writers = storages.compactMap(\.cache)
                if !writers.isEmpty {
                    counters.cacheWrites.withLock {
                        $0 = ["written": writers.reduce(0) { $0 + $1.written.load(ordering: .relaxed) },
                              "failed": writers.reduce(0) { $0 + $1.failed.load(ordering: .relaxed) },
                              "skipped": writers.reduce(0) { $0 + $1.skipped.load(ordering: .relaxed) }]
                    }
                }
                if redisUp, let queues = try? await consumer.queueState() {
                    counters.updateQueues(queues)
                }
                probes += 1
                if probes % 5 == 1, let slots = try? await storage.replicationSlots() {
                    counters.replicationSlots.withLock { $0 = slots }
                }
                if redisUp, probes % 5 == 1 { await capDeadLetters(control) }
                if redisUp, probes % 5 == 1 { lastMetricID = await mirrorMetricNames(storage: storage, redis: control, after: lastMetricID) }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        defer { probe.cancel() }
        // One connection (and thread) for the heartbeat, kept across restarts of its child. It
        // stamps from the start, while the processor may still wait for Redis: replicas' lag is
        // read from it, and an idle primary with no heartbeat would make every replica look behind.
        let stamp = StorageActor(conninfo: configuration.storage.url, logger: logger, name: "storage-heartbeat")
        let earlyHeartbeat = Task {
            while !Task.isCancelled {
                try? await stamp.beat()
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        let ready = await waitForDependencies(storage: storage, control: control, consumer: consumer)
        earlyHeartbeat.cancel()  // the heartbeat child goes on from here
        guard ready else { return }
        counters.started.store(1, ordering: .relaxed)
        let clock = self.clock
        let maintainPartitions: @Sendable () async -> Void = {
            do {
                try await storage.maintainPartitions(nowMicros: clock(), aheadDays: configuration.partitions.aheadDays,
                                                     retentionDays: configuration.partitions.retentionDays,
                                                     aggregateRetentionDays: configuration.partitions.aggregateRetentionDays,
                                                     hourlyRetentionDays: configuration.partitions.hourlyRetentionDays,
                                                     dailyRetentionDays: configuration.partitions.dailyRetentionDays)
            } catch {
                logger.error("partition maintenance failed", metadata: ["error": "\(error)"])
            }
        }
        await maintainPartitions()
        logger.info("processor ready", metadata: ["consumer": "\(configuration.consumer.name)", "workers": "\(configuration.worker.count)",
                                                  "shards": "\(configuration.shards)"])
        onReady("consumer \(configuration.consumer.name), \(configuration.worker.count) workers, \(configuration.shards) shards")

        let acknowledger = Acknowledger(redis: acker, keys: configuration.redis.keys, group: configuration.consumer.group, consumer: configuration.consumer.name,
                                        inFlight: inFlight)
        let deadLetters = DeadLetterWriter(redis: control, keys: configuration.redis.keys, counters: counters, logger: logger)
        let retries = RetryLedger(redis: acker, keys: configuration.redis.keys, logger: logger)
        let onStopping = self.onStopping
        let analysisSettings = self.analysisSettings

        var children: [Supervisor.Child] = [
            .init(name: "consumer") {
                await consumer.run()
                // Only a consumer that stopped for shutdown closes the queues; one that stopped
                // unexpectedly is restarted and keeps feeding them.
                if Task.isShuttingDownGracefully || Task.isCancelled {
                    pool.finish()
                }
            },
            .init(name: "leases", role: .maintenance) {
                while !Task.isCancelled {
                    do {
                        try await consumer.maintain()
                    } catch where "\(error)".contains("NOGROUP") {
                        await consumer.recreateLostGroups()
                    } catch {
                        logger.warning("lease maintenance failed", metadata: ["error": "\(error)"])
                    }
                    try await Task.sleep(for: .milliseconds(configuration.lease.renewMillis))
                }
            },
            .init(name: "partitions", role: .maintenance) {
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(configuration.partitions.intervalSeconds))
                    await maintainPartitions()
                }
            },
            .init(name: "progress", role: .maintenance) {
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(10))
                    logger.info("processor progress", metadata: ["counters": "\(counters.summary)"])
                }
            },
            // The replicas' lag is read from this row (telemetry_replica_lag()); a failed stamp
            // is the outage /ready already reports, so it is not logged twice a second.
            .init(name: "heartbeat", role: .maintenance) {
                while !Task.isCancelled {
                    try? await stamp.beat()
                    try await Task.sleep(for: .milliseconds(500))
                }
            },
        ]
        if configuration.health.enabled {
            let checker = HealthChecker(conninfo: configuration.storage.url, settings: configuration.health, logger: logger)
            counters.health.withLock { $0 = checker }
            children.append(.init(name: "health", role: .maintenance) {
                while !Task.isCancelled {
                    let now = clock()
                    let refused = counters.qualityRejections.drain()
                    do {
                        try await checker.flush(rejections: refused, hourMicros: Timestamp.floorDivision(now, 3_600_000_000).quotient * 3_600_000_000)
                    } catch {
                        counters.qualityRejections.restore(refused)
                    }
                    // No watermark (Redis unreachable): no judgement, rather than every device silent.
                    if let watermark = try? await HealthChecker.watermark(redis: control, keys: configuration.redis.keys, shards: configuration.shards,
                                                                         group: configuration.consumer.group, nowMillis: now / 1000) {
                        do {
                            try await checker.check(watermarkMicros: min(watermark * 1000, now), nowMicros: now)
                        } catch {
                            logger.warning("device silence check failed", metadata: ["error": "\(error)"])
                        }
                    }
                    try await Task.sleep(for: .seconds(configuration.health.intervalSeconds))
                }
            })
        }
        if configuration.alerting.enabled {
            let deliverer = AlertDeliverer(settings: configuration.alerting, outbox: AlertOutbox(conninfo: configuration.storage.url), logger: logger)
            counters.alertDelivery.withLock { $0 = deliverer }
            children.append(.init(name: "alerts", role: .maintenance) {
                while !Task.isCancelled {
                    await deliverer.pass()
                    try await Task.sleep(for: .milliseconds(500))
                }
            })
        }
        if configuration.lake.enabled {
            let lake = LakeExporter(conninfo: configuration.storage.url, settings: configuration.lake, logger: logger)
            counters.lake.withLock { $0 = lake }
            children.append(.init(name: "lake", role: .maintenance) {
                while !Task.isCancelled {
                    await lake.pass(nowMicros: clock())
                    try await Task.sleep(for: .seconds(configuration.lake.intervalSeconds))
                }
            })
        }
        children += pool.children(storages: storages, acknowledger: acknowledger, deadLetters: deadLetters, retries: retries, faults: faults,
                                  counters: counters, configuration: configuration, settings: analysisSettings, logger: logger)
        let supervisor = self.supervisor
        try await withGracefulShutdownHandler {
            try await supervisor.run(children)
            await consumer.releaseAll()
        } onGracefulShutdown: {
            onStopping()
            logger.info("processor stopping: finishing in-flight work")
        }
        logger.info("processor stopped", metadata: ["counters": "\(counters.summary)"])
    }

    /// Waits until PostgreSQL (migrated) and Redis (groups created) are reachable; false if the
    /// service is asked to stop first.
    private func waitForDependencies(storage: StorageActor, control: RedisClient, consumer: ConsumerActor) async -> Bool {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        var postgresReady = false
        var redisReady = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if !postgresReady {
                do {
                    let applied = try await storage.prepare()
                    if !applied.isEmpty { logger.info("schema migrated", metadata: ["versions": "\(applied)"]) }
                    try await storage.declare(units: configuration.metricUnits)
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
                    logger.warning("waiting for redis", metadata: ["redis": "\(configuration.redis.endpoint)", "error": "\(error)"])
                }
            }
            if postgresReady && redisReady { return true }
            try? await Task.sleep(for: backoff.next())
        }
        return false
    }
}
