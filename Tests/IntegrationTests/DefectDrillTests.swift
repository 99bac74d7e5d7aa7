import Foundation
import Postgres
import Redis
import TelemetryCore
import Testing

/// Issue 14's drills: inputs and faults that lost acknowledged data or stopped every processor.
@Suite("Defect drills (real Redis and PostgreSQL)", .serialized)
struct DefectDrillTests {
    static func task(_ id: String, device: String, micros: Int64, fields: [(String, Double)]) -> String {
        let body = fields.map { "\(PrintableName($0.0)):\($0.1)" }.joined(separator: ",")
        return #"{"id":"\#(id)","type":"telemetry.store","payload":{"device_id":"\#(device)","timestamp":\#(micros / 1000),\#(body)}}"#
    }

    /// XADDs a hub batch as a hub (or a hostile producer) would, to the shard of its first device.
    static func xadd(_ redis: RedisConnection, prefix: String, id: String, devices: [String], metrics: [String], samples: [Sample]) throws {
        let batch = HubBatch(id: id, shard: ShardRouter(shards: 8).shard(of: devices[0]), createdMicros: wallClockMicros(),
                             devices: devices, metrics: metrics, samples: samples)
        var command: RedisCommand = ["XADD", "\(prefix):stream:\(batch.shard)", "*", "v", "2", "id", id, "d"]
        command.append(bytes: HubBatchCodec.encode(batch))
        #expect(try redis.send(command).string != nil)
    }

    func reasons(_ deployment: Deployment) throws -> [String] {
        try deployment.deadLetters().map { String(decoding: $0.fields["reason"] ?? [], as: UTF8.self) }
    }

    @Test("a task and a stream entry that crash their processor end as poison after consumer.max_deliveries; everything else is stored")
    func poison() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let redis = try TestServers.redis()
        let poisonDevice = "\(deployment.prefix)_poison"
        let t = wallClockMicros() - 60_000_000
        var commands: [RedisCommand] = []
        for i in 0..<20 {
            if i == 7 {
                commands.append(["RPUSH", "\(deployment.prefix):tasks", Self.task("poison-task", device: poisonDevice, micros: t, fields: [("temperature", 20)])])
            }
            commands.append(["RPUSH", "\(deployment.prefix):tasks",
                             Self.task("good-\(i)", device: "\(deployment.prefix)_good_\(i)", micros: t + Int64(i), fields: [("temperature", 21), ("humidity", 40)])])
        }
        _ = try redis.pipeline(commands)
        try Self.xadd(redis, prefix: deployment.prefix, id: "hostile-1", devices: [poisonDevice], metrics: ["temperature"],
                      samples: [Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: t, value: 1)])
        try Self.xadd(redis, prefix: deployment.prefix, id: "after-1", devices: ["\(deployment.prefix)_after"], metrics: ["temperature"],
                      samples: (0..<5).map { Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: t + Int64($0), value: 2) })
        let environment = deployment.processorEnvironment(extra: ["TELEMETRY_FAULT_CRASH_ON_DEVICE": poisonDevice, "CONSUMER_MAX_DELIVERIES": "2"])
        // Restarted after each crash, as systemd's Restart= would.
        var starts = 0
        var processor: Daemon?
        let expected = 20 * 2 + 5
        let settled = try await eventually(timeout: .seconds(120), every: .milliseconds(100)) {
            if processor?.isRunning != true, starts < 12 {
                starts += 1
                processor = try Daemon("telemetry-processor", name: "poison-processor-\(starts)", environment: environment)
            }
            return try db.scalar("SELECT count(*) FROM samples") == expected && reasons(deployment).filter { $0 == "poison" }.count == 2
        }
        let rows = try db.scalar("SELECT count(*) FROM samples")
        let seen = try reasons(deployment)
        #expect(settled, "rows \(rows), dead letters \(seen), starts \(starts)\n\(processor?.tail ?? "")")
        #expect(starts > 1, "the fault switch never crashed the processor")
        let letters = try deployment.deadLetters()
        let sources = letters.map { (String(decoding: $0.fields["source"] ?? [], as: UTF8.self), String(decoding: $0.fields["source_id"] ?? [], as: UTF8.self)) }
        #expect(sources.contains { $0.0 == "compat" && $0.1 == "poison-task" }, "\(sources)")
        #expect(sources.contains { $0.0.hasPrefix("stream:") }, "\(sources)")
        #expect(letters.count == 2, "innocent work was dead-lettered too: \(sources)")
        #expect(processor?.isRunning == true)
        #expect(await processor?.stop() == 0)
        #expect(try deployment.pendingEntries() == 0)
        print("drill poison: \(starts) starts; the poison task and entry dead-lettered as poison, \(expected) good samples stored once")
    }

    @Test("hostile inputs (65 537 fields, a timestamp near Int64.min, a NUL in a name) are refused with their reason; the processor lives on")
    func hostileInputs() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let redis = try TestServers.redis()
        let processor = try Daemon("telemetry-processor", name: "hostile-processor", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "hostile-hub",
                             environment: deployment.hubEnvironment(sensors: 1, readings: 1, rate: 1, extra: ["SIMULATED_ENABLED": "false"]))
        let t = wallClockMicros() - 60_000_000
        let wide = Self.task("wide", device: "\(deployment.prefix)_wide", micros: t, fields: (0..<65_537).map { ("m\($0)", 1) })
        _ = try redis.send(["RPUSH", "\(deployment.prefix):tasks", wide])
        // The same task over HTTP is refused before it is queued.
        let file = "\(TestServers.logDirectory)/wide-\(deployment.prefix).json"
        try wide.write(toFile: file, atomically: true, encoding: .utf8)
        let port = try await hub.httpPort()
        let (status, body, _) = try await HTTPClients.post("http://127.0.0.1:\(port)/v1/tasks", body: file)
        #expect(status == 413 || (status == 400 && body.contains("too_large")), "\(status) \(body)")
        // A batch with a device line's timestamp near Int64.min (what `dev temperature=21 -9223372036854775`
        // in milliseconds becomes) and a NUL in a metric name, each beside a good sample.
        let device = "\(deployment.prefix)_dev"
        try Self.xadd(redis, prefix: deployment.prefix, id: "edge-1", devices: [device], metrics: ["temperature", "te\u{0}mp"],
                      samples: [Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: -9_223_372_036_854_775_000, value: 21),
                                Sample(deviceIndex: 0, metricIndex: 1, timestampMicros: t, value: 22),
                                Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: t, value: 23)])
        // HTTP: a NUL in a metric name is refused on its line, its neighbour kept.
        let lines = "{\"device_id\":\"\(device)\",\"timestamp\":\(t / 1000 + 1),\"te\\u0000mp\":1}\n{\"device_id\":\"\(device)\",\"timestamp\":\(t / 1000 + 2),\"humidity\":50}\n"
        let ndjson = "\(TestServers.logDirectory)/nul-\(deployment.prefix).ndjson"
        try lines.write(toFile: ndjson, atomically: true, encoding: .utf8)
        let (lineStatus, lineBody, _) = try await HTTPClients.post("http://127.0.0.1:\(port)/v1/samples", body: ndjson)
        #expect(lineStatus == 400 && lineBody.contains("invalid_field"), "\(lineStatus) \(lineBody)")
        // A canary after all of it.
        _ = try redis.send(["RPUSH", "\(deployment.prefix):tasks", Self.task("canary", device: "\(deployment.prefix)_canary", micros: t, fields: [("temperature", 20)])])
        let done = try await eventually(timeout: .seconds(60)) {
            try db.scalar("SELECT count(*) FROM samples") == 3 && Set(reasons(deployment)).isSuperset(of: ["too_large", "timestamp_too_old"])
        }
        let rows = try db.scalar("SELECT count(*) FROM samples")
        let seen = try reasons(deployment)
        #expect(done, "rows \(rows), reasons \(seen)\n\(processor.tail)")
        #expect(try db.scalar("SELECT count(*) FROM metrics WHERE name ~ '^m[0-9]+$'") == 0, "nothing of the wide task is stored")
        let edge = try deployment.deadLetters().first { String(decoding: $0.fields["source_id"] ?? [], as: UTF8.self).contains("-") && $0.fields["reason"] == Array("timestamp_too_old".utf8) }
        let refusedLines = String(decoding: edge?.fields["payload"] ?? [], as: UTF8.self)
        #expect(refusedLines.contains(#""reason":"invalid_field""#) && refusedLines.contains(#""metric":"te\u0000mp""#), "\(refusedLines)")
        let finalReasons = try reasons(deployment)
        #expect(finalReasons.count == 2, "a good sample was dead-lettered with a bad one: \(finalReasons)")
        #expect(processor.isRunning && hub.isRunning)
        #expect(!(try reasons(deployment)).contains("retries_exhausted"))
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("a sample PostgreSQL refuses (a data error) is dead-lettered alone; its batch's other samples are stored, no retries spent")
    func dataErrorIsolation() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let redis = try TestServers.redis()
        let processor = try Daemon("telemetry-processor", name: "isolation-processor", environment: deployment.processorEnvironment())
        #expect(try await eventually(timeout: .seconds(30)) { try db.scalar("SELECT count(*) FROM schema_migrations") >= 3 })
        // A rule of the database that one value breaks (SQLSTATE 23514), as a site's own constraint would.
        try db.connect().execute("ALTER TABLE samples ADD CONSTRAINT no_666 CHECK (value <> 666)")
        let t = wallClockMicros() - 60_000_000
        _ = try redis.send(["RPUSH", "\(deployment.prefix):tasks",
                            Self.task("mixed", device: "\(deployment.prefix)_mixed", micros: t, fields: [("a", 1), ("b", 666), ("c", 3), ("d", 4)])])
        try Self.xadd(redis, prefix: deployment.prefix, id: "mixed-batch", devices: ["\(deployment.prefix)_dev"], metrics: ["level"],
                      samples: (0..<8).map { Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: t + Int64($0), value: $0 == 5 ? 666 : Double($0)) })
        try await db.expectStoredOnce(3 + 7, "\(processor.tail)")
        let letters = try deployment.deadLetters()
        #expect(letters.count == 2)
        for letter in letters {
            #expect(letter.fields["reason"] == Array("invalid_field".utf8))
            #expect(String(decoding: letter.fields["payload"] ?? [], as: UTF8.self).contains("666"))
        }
        let (_, metrics) = try await processor.get("/metrics")
        #expect(metrics.contains(#"telemetry_processor_dead_letters_total{reason="retries_exhausted"} 0"#), "retries were spent on a data error")
        // Each input is recorded as done under its own key too (a redelivery is a duplicate; a
        // session read naming the batch is served), counting 0 samples (its pieces count them).
        #expect(try await eventually(timeout: .seconds(10)) {
            try db.scalar("SELECT count(*) FROM ingested_batches WHERE (batch_id, samples) IN (('hub:mixed-batch', 0), ('task:mixed', 0))") == 2
        })
        #expect(await processor.stop() == 0)
    }

    @Test("a batch isolated for a data error dead-letters, besides the refused sample, its samples over the metric-name cap; none is lost silently")
    func isolationKeepsCardinalityRefusals() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let redis = try TestServers.redis()
        // The three built-in metrics and `level`: `over_cap` is one name too many.
        let processor = try Daemon("telemetry-processor", name: "isolation-cap-processor",
                                   environment: deployment.processorEnvironment(extra: ["VALIDATION_MAX_METRIC_NAMES": "4"]))
        #expect(try await eventually(timeout: .seconds(30)) { try db.scalar("SELECT count(*) FROM schema_migrations") >= 3 })
        try db.connect().execute("ALTER TABLE samples ADD CONSTRAINT no_666 CHECK (value <> 666)")
        let t = wallClockMicros() - 60_000_000
        // 8 samples of `level` (one of them 666) and 4 of `over_cap`, interleaved.
        var samples: [Sample] = []
        for n in 0..<12 {
            let metric: UInt16 = n % 3 == 2 ? 1 : 0
            let value: Double = n == 4 ? 666 : Double(n)
            samples.append(Sample(deviceIndex: 0, metricIndex: metric, timestampMicros: t + Int64(n), value: value))
        }
        try Self.xadd(redis, prefix: deployment.prefix, id: "mixed-cap", devices: ["\(deployment.prefix)_dev"], metrics: ["level", "over_cap"],
                      samples: samples)
        try await db.expectStoredOnce(7, "\(processor.tail)")
        func payloads() throws -> String {
            try deployment.deadLetters().map { String(decoding: $0.fields["payload"] ?? [], as: UTF8.self) }.joined(separator: "\n")
        }
        func occurrences(_ word: String, _ text: String) -> Int { text.components(separatedBy: word).count - 1 }
        let lettered = try await eventually(timeout: .seconds(10)) {
            let text = try payloads()
            return occurrences("cardinality_limit", text) == 4 && occurrences("invalid_field", text) == 1
        }
        let text = try payloads()
        #expect(lettered, "\(text)")
        #expect(try db.scalar("SELECT count(*) FROM metrics WHERE name = 'over_cap'") == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("the dead-letter stream is capped by dead_letters.max_bytes; what the cap deletes is counted")
    func deadLetterCap() async throws {
        let deployment = try Deployment()
        let redis = try TestServers.redis()
        let processor = try Daemon("telemetry-processor", name: "dlq-cap-processor",
                                   environment: deployment.processorEnvironment(extra: ["DEAD_LETTERS_MAX_BYTES": "65536"]))
        let junk = String(repeating: "z", count: 2000)
        _ = try redis.pipeline((0..<200).map { ["RPUSH", "\(deployment.prefix):tasks", #"{"id":"j\#($0)","type":"nope","payload":{"x":"\#(junk)"}}"#] })
        let capped = try await eventually(timeout: .seconds(30)) {
            let (_, metrics) = try await processor.get("/metrics")
            let usage = try redis.send(["MEMORY", "USAGE", "\(deployment.prefix):dlq"]).int ?? 0
            let queued = try redis.send(["LLEN", "\(deployment.prefix):tasks"]).int ?? 1
            return !metrics.contains("telemetry_processor_dead_letters_evicted_total 0\n") && usage <= 65536 && queued == 0
        }
        #expect(capped, "\(processor.tail)")
        #expect(await processor.stop() == 0)
    }

    @Test("a hub restarted with a fixed hub.id: the second run's batches are stored, not dropped as duplicates")
    func fixedHubID() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let processor = try Daemon("telemetry-processor", name: "fixed-id-processor", environment: deployment.processorEnvironment())
        let sensors = 4, readings = 30
        for run in 1...2 {
            let hub = try Daemon("telemetry-hub", name: "fixed-id-hub-\(run)",
                                 environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: 100,
                                                                        extra: ["HUB_ID": "plant-1", "SIMULATED_DEVICE_PREFIX": "\(deployment.prefix)_run\(run)"]))
            try await db.expectStoredOnce(sensors * readings * 3 * run, "run \(run):\n\(hub.tail)\n\(processor.tail)")
            #expect(await hub.stop() == 0)
        }
        #expect(try db.scalar("SELECT count(*) FROM ingested_batches WHERE batch_id LIKE 'hub:plant-1-%'") > 0)
        #expect(await processor.stop() == 0)
    }

    @Test("a metric-name flood is refused (too_large, never 202 then lost); a canary with a new name after it is stored; no id is burned")
    func metricNameFlood() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let redis = try TestServers.redis()
        let processor = try Daemon("telemetry-processor", name: "flood-processor", environment: deployment.processorEnvironment())
        let t = wallClockMicros() - 60_000_000
        for i in 0..<3 {
            let flood = Self.task("flood-\(i)", device: "\(deployment.prefix)_flood", micros: t + Int64(i),
                                  fields: (0..<40_000).map { ("f\(i)_\($0)", 1) })
            _ = try redis.send(["RPUSH", "\(deployment.prefix):tasks", flood])
        }
        // Restarts re-resolve the same names: no identity value may be burned by them.
        await processor.stop()
        let again = try Daemon("telemetry-processor", name: "flood-processor-2", environment: deployment.processorEnvironment())
        _ = try redis.send(["RPUSH", "\(deployment.prefix):tasks",
                            Self.task("canary", device: "\(deployment.prefix)_canary", micros: t, fields: [("canary_metric", 1), ("temperature", 20)])])
        let stored = try await eventually(timeout: .seconds(60)) {
            try db.scalar("SELECT count(*) FROM samples s JOIN metrics m ON m.id = s.metric_id WHERE m.name = 'canary_metric'") == 1
                && reasons(deployment).filter { $0 == "too_large" }.count == 3  // the floods' dead letters may land after the canary
        }
        #expect(stored, "\(again.tail)")
        #expect(try reasons(deployment).filter { $0 == "too_large" }.count == 3)
        #expect(try db.scalar("SELECT count(*) FROM metrics") == 4)
        #expect(try db.scalar("SELECT max(id) FROM metrics") == 4, "identity values were burned")
        #expect(await again.stop() == 0)
    }

    @Test("a new metric name past validation.max_metric_names is answered 400 cardinality_limit over HTTP, never 202 and then lost")
    func cardinalityOverHTTP() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let redis = try TestServers.redis()
        let cap = ["VALIDATION_MAX_METRIC_NAMES": "5"]
        let processor = try Daemon("telemetry-processor", name: "cardinality-processor", environment: deployment.processorEnvironment(extra: cap))
        // The processor mirrors PostgreSQL's names (the 3 seeded ones) for the hubs.
        #expect(try await eventually(timeout: .seconds(30)) { try redis.send(["SCARD", "\(deployment.prefix):metric_names"]).int == 3 })
        let hub = try Daemon("telemetry-hub", name: "cardinality-hub",
                             environment: deployment.hubEnvironment(sensors: 1, readings: 1, rate: 1, extra: cap.merging(["SIMULATED_ENABLED": "false"]) { $1 }))
        let t = wallClockMicros() / 1000 - 60_000
        let body = (1...4).map { "{\"device_id\":\"\(deployment.prefix)_d\",\"timestamp\":\(t + Int64($0)),\"new_\($0)\":\($0)}" }.joined(separator: "\n")
        let file = "\(TestServers.logDirectory)/cardinality-\(deployment.prefix).ndjson"
        try body.write(toFile: file, atomically: true, encoding: .utf8)
        let (status, answer, _) = try await HTTPClients.post("http://127.0.0.1:\(try await hub.httpPort())/v1/samples", body: file)
        #expect(status == 400 && answer.contains("cardinality_limit") && answer.contains(#""accepted":2"#), "\(status) \(answer)")
        try await db.expectStoredOnce(2, "\(processor.tail)")
        #expect(try db.scalar("SELECT count(*) FROM metrics") == 5)
        #expect(try deployment.deadLetters().isEmpty, "refused at the door, nothing to dead-letter")
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("FLUSHALL of Redis mid-load: the processor recreates its group without a restart, says what was at risk, and stores what comes after")
    func flushAll() async throws {
        let redisServer = try RedisServer()
        let deployment = try Deployment()
        let db = deployment.database
        let port = ["REDIS_PORT": String(redisServer.port)]
        let processor = try Daemon("telemetry-processor", name: "flushall-processor", environment: deployment.processorEnvironment(extra: port))
        let hub = try Daemon("telemetry-hub", name: "flushall-hub",
                             environment: deployment.hubEnvironment(sensors: 10, readings: 400, rate: 40, extra: port))
        #expect(try await eventually(timeout: .seconds(60)) { try db.scalar("SELECT count(*) FROM samples") > 1500 })
        let redis = try RedisConnection(endpoint: RedisEndpoint(port: redisServer.port))
        _ = try redis.send(["FLUSHALL"])
        let atFlush = try db.scalar("SELECT count(*) FROM samples")
        let recreated = try await eventually(timeout: .seconds(30)) {
            let (_, metrics) = try await processor.get("/metrics")
            return metrics.contains("telemetry_processor_groups_recreated_total ") && !metrics.contains("telemetry_processor_groups_recreated_total 0")
        }
        #expect(recreated, "\(processor.tail)")
        #expect(try await eventually(timeout: .seconds(60)) { try db.scalar("SELECT count(*) FROM samples") > atFlush + 1500 }, "\(processor.tail)")
        let (ready, readyBody) = try await processor.get("/ready")
        #expect(ready == 200, "\(readyBody)")
        let log = (try? String(contentsOfFile: processor.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("the consumer group was missing"))
        #expect(processor.isRunning && hub.isRunning, "a daemon stopped")
        #expect(try db.aggregateMismatches() == 0)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
        await redisServer.stop()
        print("drill FLUSHALL: \(atFlush) rows at the flush; the group was recreated and storing resumed without a restart")
    }

    @Test("a processor paused with SIGSTOP past its lease and resumed: its shards are taken over, nothing is stored twice")
    func pausedProcessor() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let sensors = 20, readings = 200
        let expected = sensors * readings * 3
        let first = try Daemon("telemetry-processor", name: "sigstop-p1", environment: deployment.processorEnvironment(consumer: "p1"))
        let second = try Daemon("telemetry-processor", name: "sigstop-p2", environment: deployment.processorEnvironment(consumer: "p2"))
        let hub = try Daemon("telemetry-hub", name: "sigstop-hub", environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: 50))
        #expect(try await eventually(timeout: .seconds(60)) { try db.scalar("SELECT count(*) FROM samples") > expected / 5 })
        kill(first.process.processIdentifier, SIGSTOP)
        try await Task.sleep(for: .seconds(5))  // lease.ttl_ms is 2000 here
        kill(first.process.processIdentifier, SIGCONT)
        try await db.expectStoredOnce(expected, "p1:\n\(first.tail)\np2:\n\(second.tail)")
        #expect(try db.scalar("SELECT count(*) - count(DISTINCT (device_id, metric_id, ts, rule)) FROM alerts") == 0)
        #expect(await hub.stop() == 0)
        #expect(await first.stop() == 0)
        #expect(await second.stop() == 0)
        #expect(try deployment.pendingEntries() == 0)
    }

    @Test("entries and tasks stranded by a lost reply are delivered again while the processor runs")
    func strandedWork() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let redis = try TestServers.redis()
        let processor = try Daemon("telemetry-processor", name: "stranded-processor",
                                   environment: deployment.processorEnvironment(extra: ["CONSUMER_CLAIM_IDLE_MS": "1000", "CONSUMER_CLAIM_INTERVAL_MS": "300"]))
        let owned = try await eventually(timeout: .seconds(30)) {
            try redis.send(["GET", "\(deployment.prefix):lease:0"]).string == "p1"
        }
        #expect(owned)
        // While the processor is paused, an entry is delivered to it and a task moved into its
        // processing list that it never hears of, as when the replies are lost.
        kill(processor.process.processIdentifier, SIGSTOP)
        let t = wallClockMicros() - 60_000_000
        let device = (0..<1000).map { "\(deployment.prefix)_s\($0)" }.first { ShardRouter(shards: 8).shard(of: $0) == 0 }!
        try Self.xadd(redis, prefix: deployment.prefix, id: "stranded-1", devices: [device], metrics: ["temperature"],
                      samples: [Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: t, value: 1)])
        let read = try redis.send(["XREADGROUP", "GROUP", "processors", "p1", "COUNT", "10", "STREAMS", "\(deployment.prefix):stream:0", ">"])
        #expect(read.array?.isEmpty == false)
        _ = try redis.send(["RPUSH", "\(deployment.prefix):tasks:processing:p1",
                            Self.task("stranded-task", device: "\(deployment.prefix)_task", micros: t, fields: [("temperature", 20)])])
        kill(processor.process.processIdentifier, SIGCONT)
        let stored = try await eventually(timeout: .seconds(30)) { try db.scalar("SELECT count(*) FROM samples") == 2 }
        #expect(stored, "\(processor.tail)")
        #expect(try deployment.pendingEntries() == 0)
        #expect(try redis.send(["LLEN", "\(deployment.prefix):tasks:processing:p1"]).int == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("entries past stream retention that no group processed are counted and logged when trimmed; a full Redis recovers through the trim")
    func retentionTrim() async throws {
        let redisServer = try RedisServer()
        let deployment = try Deployment()
        let redis = try RedisConnection(endpoint: RedisEndpoint(port: redisServer.port))
        let key = "\(deployment.prefix):stream:0"
        _ = try redis.send(["XGROUP", "CREATE", key, "processors", "0", "MKSTREAM"])
        let old = wallClockMicros() / 1000 - 3 * 86_400_000
        let filler = String(repeating: "x", count: 2000)
        _ = try redis.pipeline((0..<1500).map { ["XADD", key, "\(old + Int64($0))-0", "d", filler] })
        // Redis at maxmemory: every XADD is refused (OOM) until the old entries are trimmed.
        let used = try redis.send(["INFO", "memory"]).string?.split(separator: "\r\n").first { $0.hasPrefix("used_memory:") }
            .flatMap { Int($0.dropFirst("used_memory:".count)) } ?? 0
        #expect(used > 3_000_000, "used_memory \(used)")
        _ = try redis.send(["CONFIG", "SET", "maxmemory", String(used - 1_500_000)])
        let refused = try redis.send(["XADD", "\(deployment.prefix):probe", "*", "a", "b"])
        #expect(refused.string == nil, "Redis took a write over maxmemory: \(refused)")
        let hub = try Daemon("telemetry-hub", name: "trim-hub",
                             environment: deployment.hubEnvironment(sensors: 4, readings: 200, rate: 50,
                                                                    extra: ["REDIS_PORT": String(redisServer.port), "STREAMS_RETENTION_DAYS": "1",
                                                                            "STREAMS_TRIM_INTERVAL_S": "2"]))
        let trimmed = try await eventually(timeout: .seconds(60)) {
            let (_, metrics) = try await hub.get("/metrics")
            return metrics.contains("telemetry_hub_stream_trimmed_unread_total 1500")
        }
        #expect(trimmed, "\(hub.tail)")
        let published = try await eventually(timeout: .seconds(60)) {
            try (0..<8).reduce(0) { $0 + (try redis.send(["XLEN", "\(deployment.prefix):stream:\($1)"]).int ?? 0) } > 0
                && (try redis.send(["XLEN", key]).int ?? 0) < 1500
        }
        #expect(published, "\(hub.tail)")
        let log = (try? String(contentsOfFile: hub.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("trimming entries past stream retention"))
        #expect(await hub.stop() == 0)
        await redisServer.stop()
    }

    @Test("a Redis that refuses the processor's dead-letter write (OOM at maxmemory) reads as a stall: watchdog pings stop; they resume, and the dead letter is written, once Redis takes writes again")
    func refusedWritesStall() async throws {
        let redisServer = try RedisServer()  // noeviction, as Docs/architecture.md asks
        let deployment = try Deployment()
        let redis = try RedisConnection(endpoint: RedisEndpoint(port: redisServer.port))
        let capture = try await NotifyCapture()
        let processor = try Daemon("telemetry-processor", name: "refused-processor", environment: deployment.processorEnvironment(extra: [
            "REDIS_PORT": String(redisServer.port), "NOTIFY_SOCKET": capture.socketPath, "WATCHDOG_USEC": "1000000"]))
        #expect(try await eventually(timeout: .seconds(30)) { capture.messages.contains { $0.text == "READY=1" } }, "\(processor.tail)")
        let leased = try await eventually(timeout: .seconds(30)) {
            try (0..<8).allSatisfy { try redis.send(["GET", "\(deployment.prefix):lease:\($0)"]).string == "p1" }
        }
        #expect(leased, "\(processor.tail)")
        // One entry that is no hub batch, then a maxmemory far below what Redis uses: every write
        // that needs memory is refused with OOM, the XADD of its dead letter among them (reading
        // and acknowledging are not). The processor is paused meanwhile, so it reads the entry
        // only once Redis is full.
        kill(processor.process.processIdentifier, SIGSTOP)
        #expect(try redis.send(["XADD", "\(deployment.prefix):stream:0", "*", "v", "2", "d", "\u{7}not a hub batch"]).string != nil)
        _ = try redis.send(["CONFIG", "SET", "maxmemory", "1"])
        #expect(try redis.send(["XADD", "\(deployment.prefix):probe", "*", "a", "b"]).string == nil, "Redis still takes writes")
        kill(processor.process.processIdentifier, SIGCONT)
        let stalled = try await eventually(timeout: .seconds(30)) {
            let log = (try? String(contentsOfFile: processor.logPath, encoding: .utf8)) ?? ""
            return log.contains("stages stalled") && log.contains("redis-writes")
        }
        #expect(stalled, "\(processor.tail)")
        let quietFrom = NotifyCapture.nowMillis()
        try await Task.sleep(for: .seconds(2))
        #expect(!capture.messages.contains { $0.text == "WATCHDOG=1" && $0.millis >= quietFrom },
                "watchdog pings went on while Redis refused every dead-letter write")
        #expect(try redis.send(["XLEN", "\(deployment.prefix):dlq"]).int == 0)
        // Redis takes writes again: the same process writes the dead letter and pings again.
        _ = try redis.send(["CONFIG", "SET", "maxmemory", "0"])
        let recovered = try await eventually(timeout: .seconds(30)) {
            try redis.send(["XLEN", "\(deployment.prefix):dlq"]).int == 1
                && capture.messages.contains { $0.text == "WATCHDOG=1" && $0.millis >= NotifyCapture.nowMillis() - 1000 }
        }
        #expect(recovered, "\(processor.tail)")
        #expect(processor.isRunning)
        #expect(await processor.stop() == 0)
        await redisServer.stop()
    }

    @Test("telemetryctl dlq replay keeps a dead letter whose re-injection Redis refused")
    func replayRefused() async throws {
        let deployment = try Deployment()
        let redis = try TestServers.redis()
        let processor = try Daemon("telemetry-processor", name: "replay-processor", environment: deployment.processorEnvironment())
        _ = try redis.send(["RPUSH", "\(deployment.prefix):tasks", #"{"id":"bad","type":"telemetry.unknown","payload":{}}"#])
        #expect(try await eventually(timeout: .seconds(30)) { try deployment.deadLetters().count == 1 })
        #expect(await processor.stop() == 0)
        _ = try redis.send(["SET", "\(deployment.prefix):tasks", "not a list"])  // RPUSH now fails inside EXEC
        let (status, output) = try await runTool("telemetryctl", ["dlq", "replay", "--all"] + deployment.ctlOptions)
        #expect(status != 0, "\(output)")
        #expect(output.contains("failed"), "\(output)")
        #expect(try deployment.deadLetters().count == 1, "the dead letter was deleted although its replay failed")
        _ = try redis.send(["DEL", "\(deployment.prefix):tasks"])
        let (again, againOutput) = try await runTool("telemetryctl", ["dlq", "replay", "--all"] + deployment.ctlOptions)
        #expect(again == 0, "\(againOutput)")
        #expect(try deployment.deadLetters().isEmpty)
        #expect(try redis.send(["LLEN", "\(deployment.prefix):tasks"]).int == 1)
    }

    @Test("a control socket in a directory others can write is refused at start")
    func controlSocketDirectory() async throws {
        let deployment = try Deployment()
        let directory = "\(TestServers.logDirectory)/../open-\(deployment.prefix)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o777)
        let hub = try Daemon("telemetry-hub", name: "open-socket-hub",
                             environment: deployment.hubEnvironment(sensors: 1, readings: 1, rate: 1, extra: ["CONTROL_SOCKET": "\(directory)/hub.sock"]))
        #expect(try await eventually(timeout: .seconds(30)) { !hub.isRunning })
        #expect(hub.process.terminationStatus == 1, "a socket that cannot be made private is a runtime failure (1), not a configuration error (2)")
        #expect(hub.tail.contains("writable by other users"), "\(hub.tail)")
        // A symlink in place of the socket is refused too, never followed.
        let safe = "\(TestServers.logDirectory)/../safe-\(deployment.prefix)"
        try FileManager.default.createDirectory(atPath: safe, withIntermediateDirectories: true)
        chmod(safe, 0o750)
        let target = "\(safe)/target"
        _ = FileManager.default.createFile(atPath: target, contents: Data("keep".utf8), attributes: [.posixPermissions: 0o600])
        symlink(target, "\(safe)/hub.sock")
        let linked = try Daemon("telemetry-hub", name: "symlink-socket-hub",
                                environment: deployment.hubEnvironment(sensors: 1, readings: 1, rate: 1, extra: ["CONTROL_SOCKET": "\(safe)/hub.sock"]))
        #expect(try await eventually(timeout: .seconds(30)) { !linked.isRunning })
        #expect(linked.process.terminationStatus == 1, "\(linked.tail)")
        var info = stat()
        stat(target, &info)
        #expect(info.st_mode & 0o777 == 0o600, "the symlink's target was chmod'ed")
    }
}
