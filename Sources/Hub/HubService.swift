import Logging
import Redis
import ServiceLifecycle
import TelemetryCore
import Supervision
import Synchronization
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
package final class HubService: Service {
    package let configuration: HubConfiguration
    package let counters = HubCounters()
    /// Owns the buses, the ingest actor and the publisher; its children are in `status`.
    package let supervisor: Supervisor
    private struct Runtime: Sendable {
        var devices: [DeviceActor] = []
        var buffer: BoundedBuffer<QueuedBatch>?
        var ingest: IngestActor?
        var mqtt: [MQTTSource] = []
    }
    private let runtime = Mutex(Runtime())
    /// The simulated bus's rate, replaced by ``reload(_:)``.
    private let simulatedRate: Reloadable<Double>

    /// One bus as seen by status and metrics.
    package struct BusStatus: Sendable {
        package var name: String
        package var kind: String
        package var counters: BusCounters
        package var ringOccupancy: Int
        package var ringCapacity: Int
    }

    /// Every bus's counters and ring occupancy.
    package var buses: [BusStatus] {
        runtime.withLock { $0.devices }.map { device in
            BusStatus(name: device.name, kind: device.kind, counters: device.busCounters,
                      ringOccupancy: device.ring.count, ringCapacity: device.ring.capacity)
        }
    }

    /// The MQTT brokers' sources (`mqtt.brokers`), once running.
    package var mqtt: [MQTTSource] { runtime.withLock { $0.mqtt } }

    /// Unreadable device input on its way to the dead-letter stream.
    package let deadLetters: HubDeadLetters
    /// `POST /v1/tasks`' connection (an actor on a thread of its own, like every Redis client).
    private let taskRedis: RedisClient
    private let metricNames: MetricNameAdmission

    /// Applies what a reload may change (the simulated bus rate); returns what changed.
    package func reload(_ new: HubConfiguration) -> [String] {
        guard let rate = new.simulated?.rateHz, rate != simulatedRate.value else { return [] }
        simulatedRate.update(rate)
        return ["simulated.rate_hz"]
    }

    /// Batches waiting between the ingest actor and the publisher.
    package var bufferDepth: Int { runtime.withLock { $0.buffer }?.count ?? 0 }
    private let logger: Logger
    private let onReady: @Sendable (String) -> Void
    private let onStopping: @Sendable () -> Void
    private let heartbeat: @Sendable (String) -> StageHeartbeat

    package init(configuration: HubConfiguration, logger: Logger,
                onReady: @escaping @Sendable (String) -> Void = { _ in },
                onStopping: @escaping @Sendable () -> Void = {},
                heartbeat: @escaping @Sendable (String) -> StageHeartbeat = { StageHeartbeat(name: $0) }) {
        self.heartbeat = heartbeat
        self.configuration = configuration
        self.logger = logger
        self.onReady = onReady
        self.onStopping = onStopping
        supervisor = Supervisor(policy: configuration.restartPolicy, logger: logger)
        simulatedRate = Reloadable(configuration.simulated?.rateHz ?? 1)
        deadLetters = HubDeadLetters(capacity: configuration.deadLetterBuffer)
        var taskEndpoint = configuration.redis.endpoint
        taskEndpoint.timeout = max(taskEndpoint.timeout, .milliseconds(configuration.publisher.durableTimeoutMillis + 2000))
        taskRedis = RedisClient(endpoint: taskEndpoint, name: "http-tasks")
        metricNames = MetricNameAdmission(redis: taskRedis, keys: configuration.redis.keys, limit: configuration.validation.maxMetricNames)
    }

    package func run() async throws {
        let configuration = self.configuration
        let catalog = DeviceCatalog(router: ShardRouter(shards: configuration.streams.shards))
        var devices: [DeviceActor] = []
        if let simulated = configuration.simulated {
            let rate = simulatedRate
            devices.append(DeviceActor(name: "simulated", makeDriver: { SimulatedDriver(configuration: simulated, rateHz: rate, catalog: catalog) },
                                       ringCapacity: configuration.ingest.ringCapacity,
                                       stagingCapacity: simulated.sensors * 3, catalog: catalog, counters: counters,
                                       deadLetters: deadLetters, logger: logger))
        }
        for bus in configuration.buses {
            let makeDriver: @Sendable () -> any BusDriver = {
                switch bus.kind {
                case .uartLines(var c):
                    c.maxFields = configuration.validation.maxFields
                    return UARTLineDriver(configuration: c)
                case .modbusRTU(let c): return ModbusDriver(configuration: c)
                case .bme280(let c): return BME280Driver(configuration: c)
                }
            }
            devices.append(DeviceActor(name: bus.name, makeDriver: makeDriver, ringCapacity: bus.ringCapacity ?? configuration.ingest.ringCapacity,
                                       stagingCapacity: 1024, catalog: catalog, counters: counters, deadLetters: deadLetters, logger: logger))
        }
        // Batches acknowledged to an HTTP client are never dropped by `drop_oldest`.
        let buffer = BoundedBuffer<QueuedBatch>(capacity: configuration.ingest.bufferBatches, policy: configuration.ingest.fullPolicy,
                                             isProtected: { $0.batch.acknowledged })
        let ingest = IngestActor(rings: devices.map(\.ring), catalog: catalog, buffer: buffer, counters: counters,
                                 batchSize: configuration.ingest.batchSize, flushIntervalMillis: configuration.ingest.flushIntervalMillis,
                                 flushWhenIdle: configuration.ingest.flushWhenIdle,
                                 hubID: configuration.hubID, heartbeat: heartbeat("ingest"))
        let mqtt = configuration.mqtt.map { MQTTSource(configuration: $0, hub: self, logger: self.logger) }
        runtime.withLock { $0 = Runtime(devices: devices, buffer: buffer, ingest: ingest, mqtt: mqtt) }
        // WAIT holds the publisher's connection up to redis.durable_timeout_ms: its reads wait longer.
        var publisherEndpoint = configuration.redis.endpoint
        publisherEndpoint.timeout = max(publisherEndpoint.timeout, .milliseconds(configuration.publisher.durableTimeoutMillis + 2000))
        let redis = RedisClient(endpoint: publisherEndpoint, name: "publisher")
        let spool = Spool(directory: configuration.spool.directory, segmentBytes: configuration.spool.segmentBytes,
                          maxBytes: configuration.spool.maxBytes, fsync: configuration.spool.fsync)
        let recovery = try await spool.open()
        if recovery.badRanges > 0 {
            logger.error("spool damage found and quarantined; good records will be replayed", metadata: [
                "good_records": "\(recovery.records)", "bad_ranges": "\(recovery.badRanges)",
                "quarantined_bytes": "\(recovery.quarantinedBytes)", "quarantine": "\(configuration.spool.directory)/quarantine"])
        } else if recovery.records > 0 {
            logger.info("spool holds batches from a previous run; replaying them first", metadata: ["records": "\(recovery.records)"])
        }
        let publisher = PublisherActor(redis: redis, buffer: buffer, spool: spool, keys: configuration.redis.keys, counters: counters,
                                       pipeline: configuration.publisher.pipeline,
                                       durability: PublisherActor.Durability(replicas: configuration.publisher.durableReplicas,
                                                                             timeoutMillis: configuration.publisher.durableTimeoutMillis),
                                       spoolFullPolicy: configuration.spool.fullPolicy,
                                       breaker: CircuitBreaker(probeIntervalMillis: Int64(configuration.breaker.probeMillis),
                                                               maxProbeIntervalMillis: Int64(configuration.breaker.maxProbeMillis)),
                                       logger: logger, heartbeat: heartbeat("publisher"))

        await checkRedis(redis)
        let summary = "\(devices.count) bus(es), \(mqtt.count) MQTT broker(s), \(configuration.streams.shards) shards, redis \(configuration.redis.endpoint)"
        logger.info("hub ready", metadata: ["hub_id": "\(configuration.hubID)", "buses": "\(devices.count)", "shards": "\(configuration.streams.shards)"])
        counters.started.store(1, ordering: .relaxed)
        onReady(summary)

        // Shutdown order: buses stop (cancelled at graceful shutdown), then the ingest actor
        // drains the rings and flushes, then the publisher empties the buffer.
        let logger = self.logger
        let counters = self.counters
        let onStopping = self.onStopping
        let busesRunning = Atomic<Int>(devices.count)
        let stopping = Atomic<Bool>(false)
        let stopIngestIfDrained: @Sendable () async -> Void = {
            if stopping.load(ordering: .sequentiallyConsistent) && busesRunning.load(ordering: .sequentiallyConsistent) == 0 {
                await ingest.requestStop()
            }
        }
        var children: [Supervisor.Child] = devices.map { device in
            .init(name: "bus-\(device.name)", restart: .transient, onFinished: {
                busesRunning.subtract(1, ordering: .sequentiallyConsistent)
                await stopIngestIfDrained()
            }) {
                try await cancelWhenGracefulShutdown { try await device.run() }
            }
        }
        // MQTT sessions go through the same path as HTTP requests; at shutdown they stop reading
        // and leave what is not acknowledged with the broker (their persistent session keeps it).
        for source in mqtt {
            children.append(.init(name: "mqtt-\(source.configuration.name)") {
                await cancelWhenGracefulShutdown { await source.run() }
            })
        }
        children.append(.init(name: "ingest") { await ingest.run() })
        children.append(.init(name: "publisher") { await publisher.run() })
        let deadLetters = self.deadLetters
        let deadLetterRedis = RedisClient(endpoint: configuration.redis.endpoint, name: "dead-letters")
        let deadLetterHeartbeat = heartbeat("dead-letters")
        let keys = configuration.redis.keys
        children.append(.init(name: "dead-letters", role: .maintenance) {
            await deadLetters.run(redis: deadLetterRedis, keys: keys, logger: logger, heartbeat: deadLetterHeartbeat)
        })
        let trimmer = StreamTrimmer(redis: RedisClient(endpoint: configuration.redis.endpoint, name: "trimmer"), keys: keys, shards: configuration.streams.shards,
                                    retentionDays: configuration.streams.retentionDays, counters: counters, logger: logger)
        let trimInterval = configuration.streams.trimIntervalSeconds
        children.append(.init(name: "trimmer", role: .maintenance) {
            while !Task.isCancelled {
                do {
                    try await trimmer.trimOnce()
                } catch {
                    logger.warning("stream retention trim failed; retrying at the next interval", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .seconds(trimInterval))
            }
        })
        children.append(.init(name: "progress", role: .maintenance) {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(10))
                logger.info("hub progress", metadata: ["counters": "\(counters.summary)"])
            }
        })
        let supervisor = self.supervisor
        try await withGracefulShutdownHandler {
            try await supervisor.run(children)
        } onGracefulShutdown: {
            onStopping()
            logger.info("hub stopping: draining rings and buffer")
            stopping.store(true, ordering: .sequentiallyConsistent)
            Task { await stopIngestIfDrained() }
        }
        logger.info("hub stopped", metadata: ["counters": "\(counters.summary)"])
    }

    /// What became of the samples of one `POST /v1/samples`.
    package enum SampleIngestResult: Sendable {
        /// Every valid line is durable; `document.rejected` lists the others; `token` names the
        /// request's batches (`X-Ingest-Token`).
        case durable(SampleDocument, token: IngestToken)
        /// No line was valid; nothing was queued.
        case invalid(SampleDocument)
        /// The buffer has no room: the hub is applying backpressure (nothing was queued).
        case busy
        /// The request needs more batches than the buffer holds; it must be split.
        case tooLarge(String)
        /// The hub is starting or stopping, or could not confirm durability in time.
        case unavailable(String)
    }

    /// Parses `body` (NDJSON or a JSON array) on the request worker's thread, queues the valid
    /// samples through the ingest actor and waits until they are durable (Docs/architecture.md): in Redis or
    /// fsync'd in the spool. After `ackTimeout` the answer is `unavailable` (the samples may still
    /// become durable; a retry is deduplicated by the samples' natural key).
    /// `tenant` (nil: the default tenant) is the tenant of every sample of the request.
    package func ingest(_ body: [UInt8], tenant: String? = nil, worker: RequestWorker, ackTimeout: Duration) async -> SampleIngestResult {
        let maxFields = configuration.validation.maxFields
        let document = await worker.run { SampleDocument.parse(body, maxFields: maxFields) }
        return await ingest(document, tenant: tenant, worker: worker, ackTimeout: ackTimeout)
    }

    /// Queues the readings of an already parsed `document` (another format: line protocol) as
    /// ``ingest(_:tenant:worker:ackTimeout:)`` does, and waits until they are durable.
    package func ingest(_ document: SampleDocument, tenant: String? = nil, worker: RequestWorker, ackTimeout: Duration) async -> SampleIngestResult {
        var document = document
        let router = ShardRouter(shards: configuration.streams.shards)
        let batchSize = configuration.ingest.batchSize
        // New metric names past validation.max_metric_names are refused here, before any 202.
        // Not while Redis is failing (the breaker is open and batches go to the spool): ingest must
        // not wait on it; the processors enforce the same cap against PostgreSQL.
        let refused = counters.breakerOpen.load(ordering: .relaxed) == 1 ? [] : await metricNames.refused(document.metricNames, logger: logger)
        if !refused.isEmpty {
            let limit = configuration.validation.maxMetricNames
            document.reject(readingsNaming: refused, reason: .cardinalityLimit) {
                "metric \(PrintableName($0)) is new and the deployment already holds validation.max_metric_names (\(limit)) names"
            }
        }
        let readings = document.readings
        let batches = await worker.run { IngestActor.batches(for: readings, router: router, batchSize: batchSize, tenant: tenant ?? "") }
        if document.rejectedCount > 0 {
            counters.httpRejected.withLock { reasons in
                for (reason, count) in document.rejectedByReason { reasons[reason, default: 0] += count }
            }
        }
        guard !document.readings.isEmpty else { return .invalid(document) }
        guard let ingest = runtime.withLock({ $0.ingest }) else { return .unavailable("the hub is starting") }
        switch await ingest.admit(batches) {
        case .busy:
            return .busy
        case .tooLarge(let count, let capacity):
            return .tooLarge("the request makes \(count) batches and the hub's buffer holds \(capacity) (ingest.buffer_batches); split it")
        case .stopping:
            return .unavailable("the hub is stopping")
        case .queued(let ticket, let token):
            let timer = Task {
                try await Task.sleep(for: ackTimeout)
                ticket.expire("the samples were not confirmed durable within \(ackTimeout)")
            }
            defer { timer.cancel() }
            switch await ticket.wait() {
            case .durable:
                counters.httpSamplesAccepted.add(document.readings.count, ordering: .relaxed)
                counters.httpValuesAccepted.add(document.values, ordering: .relaxed)
                return .durable(document, token: token)
            case .failed(let reason):
                return .unavailable(reason)
            }
        }
    }

    /// Queues one task in the seed's JSON (validated first) on the compatibility list, as
    /// `RPUSH telemetry:tasks` would; returns once Redis has it.
    package func submitTask(_ bytes: [UInt8], worker: RequestWorker) async throws -> TelemetryTask {
        let maxFields = configuration.validation.maxFields
        let task = try await worker.run { () throws(TelemetryError) in try TelemetryTaskCodec.decode(bytes, maxFields: maxFields) }
        var command: RedisCommand = ["RPUSH", configuration.redis.keys.tasks]
        command.append(bytes: bytes)
        let durability = configuration.publisher
        guard durability.durableReplicas > 0 else {
            try await taskRedis.send(command)  // an error reply is thrown
            return task
        }
        // Behind the durability gate a task is accepted only once replicas have it (tasks have no
        // spool to fall back on): else 503, and the client retries (the task id makes it harmless).
        let replies = try await taskRedis.pipeline([command, ["WAIT", String(durability.durableReplicas), String(durability.durableTimeoutMillis)]])
        if case .error(let message) = replies[0] { throw RedisError(.server, message) }
        guard let confirmed = replies[1].int, confirmed >= durability.durableReplicas else {
            throw RedisError(.connectionFailed, "the task reached Redis but \(replies[1].int ?? 0) of \(durability.durableReplicas) replicas confirmed it "
                             + "within \(durability.durableTimeoutMillis) ms (redis.durable_replicas); retry")
        }
        return task
    }

    /// Reports Redis durability settings when Redis answers; an unreachable Redis is not an error
    /// here (batches are spooled until it is back).
    private func checkRedis(_ redis: RedisClient) async {
        do {
            var problems = try await redis.durabilityProblems()
            // With the gate, fewer connected replicas than it waits for sends every batch to the spool.
            let required = configuration.publisher.durableReplicas
            if required > 0, let info = try? await redis.send(["INFO", "replication"]).string,
               let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("connected_slaves:") }),
               let connected = Int(line.dropFirst("connected_slaves:".count)), connected < required {
                problems.append("\(connected) replica(s) connected and redis.durable_replicas is \(required): every batch waits "
                                + "redis.durable_timeout_ms and goes to the spool until enough replicas are connected")
            }
            counters.redisMisconfigured.store(problems.isEmpty ? 0 : 1, ordering: .relaxed)
            for problem in problems {
                logger.warning("redis is not configured for durability", metadata: ["problem": "\(problem)"])
            }
        } catch {
            logger.warning("redis is not reachable yet; batches will be spooled", metadata: ["redis": "\(configuration.redis.endpoint)", "error": "\(error)"])
        }
    }
}
