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

    /// Messages received, waiting to be made durable and acknowledged, in arrival order. Bounded
    /// by count and bytes: when full, the reader stops reading (TCP backpressure reaches the
    /// broker). A QoS 1 message whose packet id is already queued or being stored (the broker sent
    /// it again before its PUBACK) is not queued twice: one PUBACK answers both, after the first
    /// is durable, and a packet id is only reused by the broker once acknowledged.
    private final class Queue: Sendable {
        struct Message: Sendable {
            var publish: MQTTPacket.Publish
            var arrivalMicros: Int64
        }

        private struct State {
            var messages = Deque<Message>()
            var bytes = 0
            var ids = Set<UInt16>()
        }

        private let state = Mutex(State())
        let signal: AsyncStream<Void>
        let continuation: AsyncStream<Void>.Continuation
        let maxMessages: Int
        let maxBytes: Int

        init(maxMessages: Int, maxBytes: Int) {
            self.maxMessages = maxMessages
            self.maxBytes = maxBytes
            (signal, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        }

        /// Queues `message`; false when its packet id is already queued or in flight.
        func push(_ message: Message) -> Bool {
            let queued = state.withLock { state -> Bool in
                if let id = message.publish.packetID, !state.ids.insert(id).inserted { return false }
                state.messages.append(message)
                state.bytes += message.publish.payload.count
                return true
            }
            if queued { continuation.yield() }
            return queued
        }

        /// Whether the queue holds as many messages or bytes as it may.
        var isFull: Bool { state.withLock { $0.messages.count >= maxMessages || $0.bytes >= maxBytes } }

        /// Up to `limit` messages, oldest first; their packet ids stay taken until ``release(_:)``.
        func take(_ limit: Int) -> [Message] {
            state.withLock { state in
                let count = min(limit, state.messages.count)
                let taken = Array(state.messages.prefix(count))
                state.messages.removeFirst(count)
                state.bytes -= taken.reduce(0) { $0 + $1.publish.payload.count }
                return taken
            }
        }

        /// Frees the packet ids of acknowledged messages.
        func release(_ messages: [Message]) {
            state.withLock { state in for message in messages { if let id = message.publish.packetID { state.ids.remove(id) } } }
        }
    }

    /// What the session's tasks share: when the broker was last heard, and whether the
    /// subscriptions are acknowledged.
    private final class SessionState: Sendable {
        let lastInbound = Atomic<Int64>(wallClockMicros())
        let subscribed = Atomic<Bool>(false)
        /// The keepalive in force: the client's, or the server's once CONNACK sets one.
        let keepAliveSeconds: Atomic<Int>

        init(keepAliveSeconds: Int) { self.keepAliveSeconds = Atomic(keepAliveSeconds) }
    }

    private func session() async throws {
        let c = configuration
        try await MQTTConnection.withConnection(to: c.endpoint, version: c.version, maxPacketBytes: c.maxPayloadBytes + 65_536 + 16,
                                                connectTimeout: .milliseconds(c.connectTimeoutMillis)) { inbound, outbound in
            let state = SessionState(keepAliveSeconds: c.keepAliveSeconds)
            let queue = Queue(maxMessages: max(c.receiveMaximum, c.maxBatchMessages) * 2, maxBytes: max(64 << 20, c.maxPayloadBytes * 2))
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The handshake must finish within connect_timeout_ms; a PINGREQ goes out every
                // half keepalive (the server's, when it sets one) from the start, and a broker not
                // heard from for 1.5 keepalives is given up.
                group.addTask {
                    let started = ContinuousClock.now
                    var lastPing = ContinuousClock.now
                    while true {
                        try await Task.sleep(for: .milliseconds(200))
                        if !state.subscribed.load(ordering: .relaxed), ContinuousClock.now - started > .milliseconds(c.connectTimeoutMillis) {
                            throw MQTTError("no CONNACK and SUBACK within \(c.connectTimeoutMillis) ms")
                        }
                        let keepAlive = Int64(state.keepAliveSeconds.load(ordering: .relaxed))
                        guard keepAlive > 0 else { continue }
                        guard wallClockMicros() - state.lastInbound.load(ordering: .relaxed) < keepAlive * 1_500_000 else {
                            throw MQTTError("the broker was silent for 1.5 keepalive periods")
                        }
                        if ContinuousClock.now - lastPing >= .milliseconds(keepAlive * 500) {
                            try await outbound.send(.pingreq)
                            lastPing = ContinuousClock.now
                        }
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
                if let keepAlive = ack.serverKeepAlive { state.keepAliveSeconds.store(Int(keepAlive), ordering: .relaxed) }
                logger.info("mqtt connected", metadata: ["session_present": "\(ack.sessionPresent)", "client_id": "\(c.clientID)", "protocol": "\(c.version.name)"])
                // Retained messages only for a new subscription, not again at every reconnect (5.0).
                try await outbound.send(.subscribe(MQTTPacket.Subscribe(packetID: 1, filters: c.subscriptions.map { .init($0.filter, qos: 1, retainHandling: 1) })))
            case .suback(let ack) where ack.packetID == 1 && !state.subscribed.load(ordering: .relaxed):
                // QoS 1 granted for every filter: a broker granting QoS 0 would deliver at most once.
                let refused = zip(c.subscriptions, ack.codes).filter { $0.1 != 1 }.map(\.0.filter)
                guard refused.isEmpty, ack.codes.count == c.subscriptions.count else {
                    throw MQTTError("the broker did not grant QoS 1 to \(refused.joined(separator: ", ")) (SUBACK \(ack.codes))")
                }
                state.subscribed.store(true, ordering: .relaxed)
                counters.sessions.add(1, ordering: .relaxed)
                counters.connected.store(1, ordering: .relaxed)
            case .publish(let publish) where connected:
                if queue.push(Queue.Message(publish: publish, arrivalMicros: wallClockMicros())) { counters.inflight.add(1, ordering: .relaxed) }
                // Full: read no further until the batch in hand is stored (the broker waits; the
                // pause is not the broker's silence).
                while queue.isFull {
                    try await Task.sleep(for: .milliseconds(10))
                    state.lastInbound.store(wallClockMicros(), ordering: .relaxed)
                }
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
                queue.release(batch)
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
                guard publish.truncatedFrom == nil, publish.payload.count <= c.maxPayloadBytes else {
                    refused[index] = TelemetryError(.tooLarge, "the payload of \(publish.truncatedFrom ?? publish.payload.count) bytes is over \(c.maxPayloadBytes) (mqtt.broker.\(c.name).max_payload_bytes)")
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
            // Readings refused on the way (new metric names over the cap): their messages are
            // dead-lettered, found by the readings each message kept (the listed rejections are capped).
            let (kept, firstReason) = rejected
            var sent = [Int](repeating: 0, count: batch.count)
            for line in document.readingLines { sent[line - 1] += 1 }
            for index in batch.indices where letters[index] == nil && (index < kept.count ? kept[index] : 0) < sent[index] {
                letters[index] = firstReason ?? TelemetryError(.cardinalityLimit, "readings of the message were refused")
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
                let publish = batch[index].publish
                var letter = DeadLetter(error: error, attempts: 1, firstFailureMillis: now, lastFailureMillis: now, source: "mqtt:\(c.name)",
                                        sourceID: publish.topic, payload: publish.payload)
                if let full = publish.truncatedFrom { letter.payloadTruncatedFrom = full }  // only its start was read
                return RedisCommand.deadLetter(keys: hub.configuration.redis.keys, letter)
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
    /// cap) as the readings kept per message (by index) and the first refusal, or nil when the
    /// readings are more than the hub's buffer holds.
    private func ingest(_ document: SampleDocument) async throws -> (kept: [Int], first: TelemetryError?)? {
        func kept(_ result: SampleDocument) -> (kept: [Int], first: TelemetryError?) {
            var counts = [Int](repeating: 0, count: (document.readingLines.max() ?? 0))
            for line in result.readingLines { counts[line - 1] += 1 }
            let first = result.rejected.first.map { TelemetryError(TelemetryError.Code(text: $0.reason) ?? .invalidField, $0.message) }
            return (counts, first)
        }
        var failures = 0
        while true {
            try Task.checkCancellation()
            switch await hub.ingest(document, worker: worker, ackTimeout: .seconds(30)) {
            case .durable(let result, _): return kept(result)
            case .invalid(let result): return kept(result)
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
