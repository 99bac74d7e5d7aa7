import DequeModule
import Logging
import MQTT
import MQTTCore
import Redis
import Synchronization
import TelemetryCore

/// Counters of one broker (`telemetry_hub_mqtt_*{broker}`, `telemetryctl status`).
package final class MQTTBrokerCounters: Sendable {
    /// 1 once every subscription of the session is acknowledged (SUBACK), 0 otherwise.
    package let connected = Atomic<Int>(0)
    /// Messages whose readings are durable and that were acknowledged.
    package let stored = Atomic<Int>(0)
    /// Messages (or lines of them) refused into the dead letters, then acknowledged.
    package let deadLettered = Atomic<Int>(0)
    /// Sessions established, and connection attempts that failed.
    package let sessions = Atomic<Int>(0)
    package let connectFailures = Atomic<Int>(0)
    /// Messages received and not yet acknowledged.
    package let inflight = Atomic<Int>(0)
    /// The last connection error, for status.
    package let lastError = Mutex<String>("")

    package init() {}
}

/// One configured broker: a persistent QoS 1 session that subscribes to the broker's topic filters,
/// turns each message into readings, and acknowledges it (PUBACK, in the order received) only once
/// its readings are durable, or once it is in the dead letters when it cannot be read
/// (Docs/mqtt.md). Reconnects with backoff, forever, until cancelled.
package final class MQTTSource: Sendable {
    package let configuration: MQTTBrokerConfiguration
    package let counters = MQTTBrokerCounters()
    private let hub: HubService
    private let redis: RedisClient
    private let worker: RequestWorker
    private let logger: Logger

    package init(configuration: MQTTBrokerConfiguration, hub: HubService, logger: Logger) {
        self.configuration = configuration
        self.hub = hub
        redis = RedisClient(endpoint: hub.configuration.redis.endpoint, name: "mqtt-\(configuration.name)")
        worker = RequestWorker(name: "mqtt-\(configuration.name)")
        var logger = logger
        logger[metadataKey: "broker"] = "\(configuration.name)"
        self.logger = logger
    }

    /// Connects, serves the session, and reconnects after any failure, until cancelled.
    package func run() async {
        let backoff = Backoff(initialMillis: Int64(configuration.reconnectInitialMillis), maximumMillis: Int64(configuration.reconnectMaxMillis))
        var failures = 0
        while !Task.isCancelled {
            let established = counters.sessions.load(ordering: .relaxed)
            do {
                try await session()
            } catch is CancellationError {
                break
            } catch {
                counters.lastError.withLock { $0 = "\(error)" }
                if counters.sessions.load(ordering: .relaxed) == established { counters.connectFailures.add(1, ordering: .relaxed) }
                logger.warning("mqtt session ended; reconnecting", metadata: ["error": "\(error)", "url": "\(configuration.endpoint.host):\(configuration.endpoint.port)"])
            }
            counters.connected.store(0, ordering: .relaxed)
            counters.inflight.store(0, ordering: .relaxed)
            failures = counters.sessions.load(ordering: .relaxed) > established ? 1 : failures + 1
            try? await Task.sleep(for: .milliseconds(backoff.capMillis(afterFailures: failures)))
        }
        counters.connected.store(0, ordering: .relaxed)
    }

    /// Messages received, waiting to be made durable and acknowledged, in arrival order.
    private final class Queue: Sendable {
        struct Message: Sendable {
            var publish: MQTTPacket.Publish
            var arrivalMicros: Int64
        }

        let messages = Mutex(Deque<Message>())
        let signal: AsyncStream<Void>
        let continuation: AsyncStream<Void>.Continuation

        init() { (signal, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1)) }

        func push(_ message: Message) {
            messages.withLock { $0.append(message) }
            continuation.yield()
        }

        func take(_ limit: Int) -> [Message] {
            messages.withLock { queue in
                let count = min(limit, queue.count)
                defer { queue.removeFirst(count) }
                return Array(queue.prefix(count))
            }
        }
    }

    /// What the session's tasks share: when the broker was last heard, and whether the
    /// subscriptions are acknowledged.
    private final class SessionState: Sendable {
        let lastInbound = Atomic<Int64>(wallClockMicros())
        let subscribed = Atomic<Bool>(false)
    }

    private func session() async throws {
        let c = configuration
        try await MQTTConnection.withConnection(to: c.endpoint, version: c.version, maxPacketBytes: c.maxPayloadBytes + 65_536 + 16,
                                                connectTimeout: .milliseconds(c.connectTimeoutMillis)) { inbound, outbound in
            let state = SessionState()
            let queue = Queue()
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The handshake must finish in time; then the broker must be heard from within 1.5 keepalives.
                group.addTask {
                    try await Task.sleep(for: .milliseconds(c.connectTimeoutMillis))
                    guard state.subscribed.load(ordering: .relaxed) else { throw MQTTError("no CONNACK and SUBACK within \(c.connectTimeoutMillis) ms") }
                    while true {
                        try await Task.sleep(for: .milliseconds(c.keepAliveSeconds * 1000 / 2))
                        guard wallClockMicros() - state.lastInbound.load(ordering: .relaxed) < Int64(c.keepAliveSeconds) * 1_500_000 else {
                            throw MQTTError("the broker was silent for 1.5 keepalive periods")
                        }
                        try await outbound.send(.pingreq)
                    }
                }
                group.addTask { try await self.acknowledge(queue, outbound: outbound) }
                group.addTask {
                    try await outbound.send(.connect(MQTTPacket.Connect(
                        clientID: c.clientID, cleanStart: false, keepAliveSeconds: UInt16(c.keepAliveSeconds), username: c.username,
                        password: c.password.map { Array($0.utf8) }, sessionExpirySeconds: UInt32(c.sessionExpirySeconds),
                        receiveMaximum: UInt16(c.receiveMaximum), maximumPacketSize: UInt32(min(c.maxPayloadBytes + 65_536 + 16, 268_435_455)))))
                    try await self.read(inbound, outbound: outbound, queue: queue, state: state)
                }
                // The first child to end (the connection closed, a protocol error, silence, a
                // failed acknowledgement) ends the session; the others are cancelled.
                try await group.next()
                throw MQTTError("the session ended")
            }
        }
    }

    /// Reads the broker's packets: CONNACK, then SUBACK, then messages, queued in arrival order.
    private func read(_ inbound: MQTTConnection.Inbound, outbound: MQTTConnection.Outbound, queue: Queue, state: SessionState) async throws {
        let c = configuration
        var connected = false
        for try await packet in inbound {
            state.lastInbound.store(wallClockMicros(), ordering: .relaxed)
            switch packet {
            case .connack(let ack) where !connected:
                guard ack.code == 0 else {
                    throw MQTTError("the broker refused the connection: \(Self.describe(connack: ack.code, version: c.version))\(ack.reasonString.map { " (\($0))" } ?? "")")
                }
                connected = true
                logger.info("mqtt connected", metadata: ["session_present": "\(ack.sessionPresent)", "client_id": "\(c.clientID)", "protocol": "\(c.version.name)"])
                try await outbound.send(.subscribe(MQTTPacket.Subscribe(packetID: 1, filters: c.subscriptions.map { .init($0.filter, qos: 1) })))
            case .suback(let ack) where ack.packetID == 1 && !state.subscribed.load(ordering: .relaxed):
                let refused = zip(c.subscriptions, ack.codes).filter { $0.1 >= 0x80 }.map(\.0.filter)
                guard refused.isEmpty, ack.codes.count == c.subscriptions.count else {
                    throw MQTTError("the broker refused the subscription to \(refused.joined(separator: ", ")) (SUBACK \(ack.codes))")
                }
                state.subscribed.store(true, ordering: .relaxed)
                counters.sessions.add(1, ordering: .relaxed)
                counters.connected.store(1, ordering: .relaxed)
            case .publish(let publish) where connected:
                counters.inflight.add(1, ordering: .relaxed)
                queue.push(Queue.Message(publish: publish, arrivalMicros: wallClockMicros()))
            case .pingresp, .puback, .suback:
                break
            case .disconnect(let reason, let text):
                throw MQTTError("the broker disconnected (reason \(reason)\(text.map { ": \($0)" } ?? ""))")
            default:
                throw MQTTError("unexpected packet from the broker: \(packet)")
            }
        }
        throw MQTTError("the broker closed the connection")
    }

    /// Takes the queued messages in order, as many as one batch holds, makes their readings
    /// durable (or dead-letters them), then acknowledges them in the order they arrived.
    private func acknowledge(_ queue: Queue, outbound: MQTTConnection.Outbound) async throws {
        for await _ in queue.signal {
            while true {
                let batch = queue.take(configuration.maxBatchMessages)
                guard !batch.isEmpty else { break }
                try await process(batch)
                let acks = batch.compactMap { message in message.publish.qos > 0 ? message.publish.packetID.map { MQTTPacket.puback(packetID: $0, reason: 0) } : nil }
                try await outbound.send(acks)
                counters.inflight.subtract(batch.count, ordering: .relaxed)
            }
        }
    }

    /// Stores the readings of `batch` and writes its dead letters; throws (nothing acknowledged)
    /// when either cannot be made durable.
    private func process(_ batch: [Queue.Message]) async throws {
        let c = configuration
        let mapping = hub.configuration.lineProtocol
        let maxFields = hub.configuration.validation.maxFields
        let (document, refused, kept) = await worker.run { () -> (SampleDocument, [Int: TelemetryError], Int) in
            var document = SampleDocument()
            var refused: [Int: TelemetryError] = [:]
            var kept = 0
            for (index, message) in batch.enumerated() {
                let publish = message.publish
                guard publish.payload.count <= c.maxPayloadBytes else {
                    refused[index] = TelemetryError(.tooLarge, "the payload is over \(c.maxPayloadBytes) bytes (mqtt.broker.\(c.name).max_payload_bytes)")
                    continue
                }
                guard let (subscription, captures) = c.subscriptions.lazy.compactMap({ s in s.captures(publish.topic).map { (s, $0) } }).first else {
                    refused[index] = TelemetryError(.invalidField, "no subscription of this broker matches the topic")
                    continue
                }
                let read = MQTTMessageReadings.read(topic: publish.topic, payload: publish.payload, subscription: subscription, captures: captures,
                                                    mapping: mapping, arrivalMicros: message.arrivalMicros, maxFields: maxFields)
                for reading in read.readings { document.append(reading, line: index + 1) }
                if let rejection = read.rejection { refused[index] = rejection }
                kept += read.stringFieldsKept
            }
            return (document, refused, kept)
        }
        var letters = refused
        if !document.readings.isEmpty {
            guard let rejected = try await ingest(document) else {
                // More than the hub's buffer holds: in halves, down to one message (dead-lettered).
                if batch.count > 1 {
                    try await process(Array(batch.prefix(batch.count / 2)))
                    try await process(Array(batch.dropFirst(batch.count / 2)))
                    return
                }
                letters[0] = TelemetryError(.tooLarge, "the message's readings are more than the hub's buffer holds (ingest.buffer_batches)")
                return try await deadLetter(letters, of: batch)
            }
            for rejection in rejected where letters[rejection.line - 1] == nil {
                letters[rejection.line - 1] = TelemetryError(TelemetryError.Code(text: rejection.reason) ?? .invalidField, rejection.message)
            }
        }
        hub.counters.stringFieldsKept.add(kept, ordering: .relaxed)
        try await deadLetter(letters, of: batch)
    }

    /// Writes the dead letters of `batch` (message index → reason) and counts the batch.
    private func deadLetter(_ letters: [Int: TelemetryError], of batch: [Queue.Message]) async throws {
        let c = configuration
        if !letters.isEmpty {
            let now = wallClockMicros() / 1000
            let commands = letters.sorted { $0.key < $1.key }.map { index, error in
                RedisCommand.deadLetter(keys: hub.configuration.redis.keys, error: error, attempts: 1, firstFailureMillis: now, lastFailureMillis: now,
                                        source: "mqtt:\(c.name)", sourceID: batch[index].publish.topic,
                                        payload: Array(batch[index].publish.payload.prefix(DeadLetter.maxPayloadBytes)))
            }
            let replies = try await redis.pipeline(commands)
            if let failure = replies.first(where: { if case .error = $0 { true } else { false } }) {
                throw RedisError(.server, "XADD to the dead letters failed: \(failure)")
            }
            counters.deadLettered.add(letters.count, ordering: .relaxed)
        }
        counters.stored.add(batch.count - letters.count, ordering: .relaxed)
    }

    /// Queues `document` through the hub and waits until it is durable, retrying while the hub
    /// applies backpressure; returns the readings refused on the way (new metric names over the
    /// cap), or nil when the readings are more than the hub's buffer holds.
    private func ingest(_ document: SampleDocument) async throws -> [SampleDocument.Rejection]? {
        var failures = 0
        while true {
            try Task.checkCancellation()
            switch await hub.ingest(document, worker: worker, ackTimeout: .seconds(30)) {
            case .durable(let result, _): return result.rejected
            case .invalid(let result): return result.rejected
            case .busy:
                failures += 1
                try await Task.sleep(for: .milliseconds(min(1000, 10 << min(failures, 7))))
            case .tooLarge:
                return nil
            case .unavailable(let reason):
                throw MQTTError("the hub could not make the messages durable: \(reason)")
            }
        }
    }

    static func describe(connack code: UInt8, version: MQTTVersion) -> String {
        switch (version, code) {
        case (.v311, 1): "unacceptable protocol version"
        case (.v311, 2): "client identifier rejected"
        case (.v311, 3): "server unavailable"
        case (.v311, 4): "bad user name or password"
        case (.v311, 5): "not authorized"
        case (.v5, 0x84): "unsupported protocol version"
        case (.v5, 0x85): "client identifier not valid"
        case (.v5, 0x86): "bad user name or password"
        case (.v5, 0x87): "not authorized"
        case (.v5, 0x88): "server unavailable"
        case (.v5, 0x8A): "banned"
        default: "code \(code)"
        }
    }
}
