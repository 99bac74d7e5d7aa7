import Foundation
import Redis
import TelemetryCore
import TelemetryStatus
import Testing

/// Bad input is contained: every bad task lands in the dead letters with its reason, good input
/// keeps flowing, and operators can list, show, replay and purge dead letters.
@Suite("Dead letters (real Redis and PostgreSQL)", .serialized)
struct DeadLetterTests {
    static func task(_ id: String, payload: String, extra: String = "") -> String {
        #"{"id": "\#(id)", "type": "telemetry.store", "payload": {\#(payload)}\#(extra)}"#
    }

    @Test("a barrage of 37 distinct bad inputs: each dead-lettered with the right reason, good input stored throughout")
    func barrage() async throws {
        let deployment = try Deployment()
        let redis = try TestServers.redis()
        let now = wallClockMicros()
        let ts = Timestamp.formatRFC3339(micros: now - 60_000_000)
        let ok = #""device_id": "bad_dev", "timestamp": "\#(ts)""#
        var bad: [(bytes: [UInt8], reason: String)] = []
        func add(_ text: String, _ reason: String) { bad.append((Array(text.utf8), reason)) }
        add("{not json", "malformed_json")
        add("", "malformed_json")
        add("[]", "malformed_json")
        add(#""just a string""#, "malformed_json")
        add(Self.task("nan", payload: ok + #", "temperature": NaN"#), "non_finite")
        add(Self.task("inf", payload: ok + #", "temperature": Infinity"#), "non_finite")
        add(Self.task("ninf", payload: ok + #", "humidity": -Infinity"#), "non_finite")
        add(Self.task("nanstr", payload: ok + #", "temperature": "NaN""#), "non_finite")
        var utf8 = Array(Self.task("utf8", payload: #""device_id": "dev"#).utf8)
        utf8.removeLast(3)
        utf8 += [0xC3, 0x28] + Array(#"", "timestamp": "\#(ts)", "temperature": 20}}"#.utf8)
        bad.append((utf8, "invalid_utf8"))
        add(#"{"type": "telemetry.store", "payload": {\#(ok), "temperature": 20}}"#, "missing_field")
        add(#"{"id": "notype", "payload": {\#(ok), "temperature": 20}}"#, "missing_field")
        add(#"{"id": "nopayload", "type": "telemetry.store"}"#, "missing_field")
        add(Self.task("nodevice", payload: #""timestamp": "\#(ts)", "temperature": 20"#), "missing_field")
        add(Self.task("nots", payload: #""device_id": "d", "temperature": 20"#), "missing_field")
        add(Self.task("nometrics", payload: ok), "missing_field")
        add(#"{"id": 42, "type": "telemetry.store", "payload": {\#(ok), "temperature": 20}}"#, "invalid_field")
        add(#"{"id": "arr", "type": "telemetry.store", "payload": [1, 2]}"#, "invalid_field")
        add(Self.task("devnum", payload: #""device_id": 7, "timestamp": "\#(ts)", "temperature": 20"#), "invalid_field")
        add(Self.task("devempty", payload: #""device_id": "", "timestamp": "\#(ts)", "temperature": 20"#), "invalid_field")
        add(Self.task("devlong", payload: #""device_id": "\#(String(repeating: "x", count: 200))", "timestamp": "\#(ts)", "temperature": 20"#), "invalid_field")
        add(Self.task("devctl", payload: #""device_id": "a\u0001b", "timestamp": "\#(ts)", "temperature": 20"#), "invalid_field")
        add(Self.task("hot", payload: ok + #", "temperature": "hot""#), "invalid_field")
        add(Self.task("bool", payload: ok + #", "temperature": true"#), "invalid_field")
        add(Self.task("null", payload: ok + #", "humidity": null"#), "invalid_field")
        add(Self.task("obj", payload: ok + #", "pressure": {"v": 1}"#), "invalid_field")
        add(Self.task("tsword", payload: #""device_id": "d", "timestamp": "yesterday", "temperature": 20"#), "invalid_field")
        add(Self.task("tsobj", payload: #""device_id": "d", "timestamp": {}, "temperature": 20"#), "invalid_field")
        add(Self.task("prio", payload: ok + #", "temperature": 20"#, extra: #", "priority": "URGENT""#), "invalid_field")
        add(Self.task("retries", payload: ok + #", "temperature": 20"#, extra: #", "max_retries": -1"#), "invalid_field")
        add(#"{"id": "explode", "type": "telemetry.explode", "payload": {\#(ok), "temperature": 20}}"#, "unknown_type")
        add(#"{"id": "emptytype", "type": "", "payload": {\#(ok), "temperature": 20}}"#, "unknown_type")
        add(Self.task("v2", payload: ok + #", "temperature": 20"#, extra: #", "version": 2"#), "unsupported_version")
        add(Self.task("huge", payload: ok + #", "raw_data": "\#(String(repeating: "A", count: 10 << 20))", "temperature": 20"#), "too_large")
        add(Self.task("future", payload: #""device_id": "d", "timestamp": "2099-01-01T00:00:00Z", "temperature": 20"#), "timestamp_future")
        add(Self.task("past", payload: #""device_id": "d", "timestamp": "1970-01-01T00:00:00Z", "temperature": 20"#), "timestamp_too_old")
        add(Self.task("neghum", payload: ok + #", "humidity": -5"#), "out_of_range")
        add(Self.task("lava", payload: ok + #", "temperature": 500"#), "out_of_range")
        #expect(bad.count >= 30)

        // Good tasks before, between and after the bad ones.
        var commands: [RedisCommand] = []
        var good = 0
        for (index, input) in bad.enumerated() {
            let goodTask = Self.task("good-\(index)", payload: #""device_id": "\#(deployment.prefix)_good", "timestamp": "\#(Timestamp.formatRFC3339(micros: now - 120_000_000 + Int64(index) * 1000))", "temperature": 21, "humidity": 50"#)
            commands.append(RedisCommand(["RPUSH", "\(deployment.prefix):tasks", goodTask]))
            good += 2
            var command = RedisCommand(["RPUSH", "\(deployment.prefix):tasks"])
            command.append(bytes: input.bytes)
            commands.append(command)
        }
        let processor = try Daemon("telemetry-processor", name: "barrage-processor", environment: deployment.processorEnvironment())
        _ = try redis.pipeline(commands)
        let arrived = try await eventually(timeout: .seconds(60)) { try deployment.deadLetters().count >= bad.count }
        #expect(arrived, "processor:\n\(processor.tail)")
        let letters = try deployment.deadLetters()
        #expect(letters.count == bad.count)
        let reasons = letters.map { String(decoding: $0.fields["reason"] ?? [], as: UTF8.self) }
        #expect(reasons.sorted() == bad.map(\.reason).sorted())
        for letter in letters {
            #expect(String(decoding: letter.fields["source"] ?? [], as: UTF8.self) == "compat")
            #expect(!(letter.fields["message"] ?? []).isEmpty)
            let payload = letter.fields["payload"] ?? []
            if letter.fields["payload_truncated_from"] == nil {
                #expect(bad.contains { $0.bytes == payload }, "payload not kept verbatim")
            }
        }
        #expect(try await eventually(timeout: .seconds(30)) { try deployment.database.scalar("SELECT count(*) FROM samples") == good })
        #expect(processor.isRunning, "the processor crashed:\n\(processor.tail)")
        var byReason: [String: Int] = [:]
        for reason in reasons { byReason[reason, default: 0] += 1 }
        // Each reason is counted by the dead-letter metric.
        let (status, metrics) = try await processor.get("/metrics")
        #expect(status == 200)
        for (reason, count) in byReason {
            #expect(metrics.contains("telemetry_processor_dead_letters_total{reason=\"\(reason)\"} \(count)\n"), "no metric for \(reason) = \(count)")
        }
        #expect(metrics.contains("telemetry_processor_dead_letters_total{reason=\"retries_exhausted\"} 0\n"))
        #expect(await processor.stop() == 0)
        print("drill barrage: \(bad.count) bad inputs dead-lettered \(byReason.sorted { $0.key < $1.key }), \(good) good samples stored")
    }

    @Test("telemetryctl dlq list/show/replay/purge: a replayed entry that is now valid is stored once and leaves the dead letters")
    func operations() async throws {
        let deployment = try Deployment()
        let redis = try TestServers.redis()
        let ts = Timestamp.formatRFC3339(micros: wallClockMicros() - 60_000_000)
        let device = "\(deployment.prefix)_oven"
        let hot = Self.task("oven-1", payload: #""device_id": "\#(device)", "timestamp": "\#(ts)", "temperature": 180"#)
        _ = try redis.pipeline([RedisCommand(["RPUSH", "\(deployment.prefix):tasks", hot]),
                                RedisCommand(["RPUSH", "\(deployment.prefix):tasks", "{broken"]),
                                RedisCommand(["RPUSH", "\(deployment.prefix):tasks", "{also broken"])])
        var processor = try Daemon("telemetry-processor", name: "dlq-processor-1", environment: deployment.processorEnvironment())
        #expect(try await eventually(timeout: .seconds(30)) { try deployment.deadLetters().count == 3 })
        #expect(await processor.stop() == 0)

        let (listStatus, list) = try await runTool("telemetryctl", ["dlq", "list"] + deployment.ctlOptions)
        #expect(listStatus == 0)
        #expect(list.contains("out_of_range") && list.contains("malformed_json") && list.contains("oven-1") && list.contains("3 of 3"), "\(list)")
        let letters = try deployment.deadLetters()
        let ovenID = try #require(letters.first { String(decoding: $0.fields["reason"] ?? [], as: UTF8.self) == "out_of_range" }?.id)
        let (_, show) = try await runTool("telemetryctl", ["dlq", "show", ovenID] + deployment.ctlOptions)
        #expect(show.contains("reason:") && show.contains("out_of_range") && show.contains(#""temperature": 180"#), "\(show)")

        // The operator raises the oven's range, restarts, and replays the entry: stored once, gone from the DLQ.
        processor = try Daemon("telemetry-processor", name: "dlq-processor-2",
                               environment: deployment.processorEnvironment(extra: ["VALIDATION_TEMPERATURE_MAX": "300"]))
        let (replayStatus, replay) = try await runTool("telemetryctl", ["dlq", "replay", ovenID] + deployment.ctlOptions)
        #expect(replayStatus == 0, "\(replay)")
        let db = deployment.database
        #expect(try await eventually(timeout: .seconds(30)) { try db.scalar("SELECT count(*) FROM samples") == 1 })
        #expect(try deployment.deadLetters().count == 2)
        #expect(!(try deployment.deadLetters().contains { $0.id == ovenID }))
        // Replaying the same task again stores nothing new.
        _ = try redis.send(RedisCommand(["RPUSH", "\(deployment.prefix):tasks", hot]))
        try await Task.sleep(for: .seconds(1))
        #expect(try db.scalar("SELECT count(*) FROM samples") == 1)
        #expect(try db.scalar("SELECT count(*) FROM aggregates_1m") == 1)

        // A replay of what is still broken comes back as a new dead letter with the same reason.
        let (_, replayAll) = try await runTool("telemetryctl", ["dlq", "replay", "--reason", "malformed_json"] + deployment.ctlOptions)
        #expect(replayAll.contains("replayed 2"), "\(replayAll)")
        #expect(try await eventually(timeout: .seconds(30)) { try deployment.deadLetters().count == 2 })
        #expect(Set(try deployment.deadLetters().map(\.id)).isDisjoint(with: letters.map(\.id)))

        let (declined, declinedOutput) = try await runTool("telemetryctl", ["dlq", "purge"] + deployment.ctlOptions, input: "n\n")
        #expect(declined == 0 && declinedOutput.contains("nothing deleted"))
        #expect(try deployment.deadLetters().count == 2)
        let (purged, _) = try await runTool("telemetryctl", ["dlq", "purge", "--yes"] + deployment.ctlOptions)
        #expect(purged == 0)
        #expect(try deployment.deadLetters().isEmpty)
        #expect(await processor.stop() == 0)
    }

    @Test("telemetryctl dlq replay --all over compat, stream and bus dead letters, one page at a time: each reported, the replayable stored once, the rest kept")
    func replayEverySource() async throws {
        let deployment = try Deployment()
        let redis = try TestServers.redis()
        let p = deployment.prefix
        let micros = wallClockMicros() - 60_000_000
        let ts = Timestamp.formatRFC3339(micros: micros)
        // compat: a task out of range; stream: a hub batch with one sample out of range, and an
        // entry that is no hub batch at all; bus: device input the hub could not read.
        _ = try redis.send(RedisCommand(["RPUSH", "\(p):tasks", Self.task("kiln-1", payload: #""device_id": "\#(p)_kiln", "timestamp": "\#(ts)", "temperature": 180"#)]))
        try DefectDrillTests.xadd(redis, prefix: p, id: "furnace-1", devices: ["\(p)_furnace"], metrics: ["temperature"],
                                  samples: [Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: micros, value: 190)])
        _ = try redis.send(["XADD", "\(p):stream:0", "*", "v", "2", "d", "\u{7}not a hub batch"])
        let bus = RedisCommand.deadLetter(keys: RedisKeys(prefix: p), DeadLetter(
            reason: "malformed_line", message: "no field", attempts: 1, firstFailureMillis: micros / 1000, lastFailureMillis: micros / 1000,
            source: "bus:uart0", sourceID: "uart0:3", payload: Array("@@@ garbage\u{0}!!!".utf8)))
        _ = try redis.send(bus)
        var processor = try Daemon("telemetry-processor", name: "replay-all-1", environment: deployment.processorEnvironment())
        #expect(try await eventually(timeout: .seconds(30)) { try deployment.deadLetters().count == 4 }, "\(processor.tail)")
        #expect(await processor.stop() == 0)
        // Found by review: a shard past the configured ones (no group reads it: replaying would
        // lose it) and a rejected sample whose metric is named like a payload field (it crashed
        // telemetryctl) are reported and kept, and the walk goes on.
        for (source, payload) in [("stream:99", Array("TB\u{2}batch".utf8)),
                                  ("stream:1", RejectedSample.payload([RejectedSample(deviceID: "\(p)_odd", metric: "timestamp", timestampMicros: micros,
                                                                                      value: 5, reason: "out_of_range")]))] {
            _ = try redis.send(RedisCommand.deadLetter(keys: RedisKeys(prefix: p), DeadLetter(
                reason: "out_of_range", message: "m", attempts: 1, firstFailureMillis: 0, lastFailureMillis: 0, source: source, sourceID: "x",
                payload: payload)))
        }
        let before = try deployment.deadLetters()
        func source(_ entry: (id: String, fields: [String: [UInt8]])) -> String { String(decoding: entry.fields["source"] ?? [], as: UTF8.self) }
        #expect(Set(before.map(source)).contains("compat") && before.filter { source($0).hasPrefix("stream:") }.count == 4
                && before.contains { source($0) == "bus:uart0" }, "\(before.map(source))")

        let (listed, list) = try await runTool("telemetryctl", ["dlq", "list", "--json", "--page-size", "1", "--source", "bus:uart0"] + deployment.ctlOptions)
        let listDocument = try #require(try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [String: Any], "\(list)")
        #expect(listed == 0 && listDocument["matched"] as? Int == 1 && listDocument["total"] as? Int == 6, "\(list)")

        // The operator raises the range and replays everything, a page of one entry at a time.
        processor = try Daemon("telemetry-processor", name: "replay-all-2",
                               environment: deployment.processorEnvironment(extra: ["VALIDATION_TEMPERATURE_MAX": "300"]))
        let (status, output) = try await runTool("telemetryctl", ["dlq", "replay", "--all", "--json", "--page-size", "1"] + deployment.ctlOptions)
        #expect(status == 0, "\(output)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
        #expect(document["replayed"] as? Int == 2 && document["not_replayable"] as? Int == 4 && document["failed"] as? Int == 0, "\(output)")
        let results = try #require(document["entries"] as? [[String: Any]])
        #expect(Set(results.compactMap { $0["id"] as? String }) == Set(before.map(\.id)), "every dead letter is reported: \(output)")
        #expect(results.filter { $0["result"] as? String == "not_replayable" }.compactMap { $0["source"] as? String }.sorted()
                == ["bus:uart0", "stream:0", "stream:1", "stream:99"], "\(output)")

        let db = deployment.database
        #expect(try await eventually(timeout: .seconds(30)) { try db.scalar("SELECT count(*) FROM samples") == 2 }, "\(processor.tail)")
        let kept = try deployment.deadLetters()
        #expect(Set(kept.map(\.id)) == Set(results.filter { $0["result"] as? String == "not_replayable" }.compactMap { $0["id"] as? String }))

        // Again: nothing left to replay, the kept ones reported again, nothing stored twice.
        let (again, againOutput) = try await runTool("telemetryctl", ["dlq", "replay", "--all"] + deployment.ctlOptions)
        #expect(again == 0 && againOutput.contains("replayed 0 dead letter(s), 4 not replayable and kept"), "\(againOutput)")
        #expect(kept.allSatisfy { againOutput.contains($0.id) }, "\(againOutput)")
        try await Task.sleep(for: .seconds(1))
        #expect(try db.scalar("SELECT count(*) FROM samples") == 2)
        // A named entry that cannot be replayed, or is not there, is a failure of that command (1).
        let (named, namedOutput) = try await runTool("telemetryctl", ["dlq", "replay", kept[0].id, "0-1"] + deployment.ctlOptions)
        #expect(named == 1 && namedOutput.contains("0-1  -  missing: no such dead letter"), "\(namedOutput)")
        #expect(await processor.stop() == 0)
    }

    @Test("telemetryctl exit status: 64 for usage only, 1 with one line for a runtime failure, --json on every read command")
    func ctlExitStatus() async throws {
        let (usage, _) = try await runTool("telemetryctl", ["dlq", "list", "--limit", "-3", "--redis-port", "1"])
        #expect(usage == 64)
        // Ids Redis would read as ranges (`+`, a bare millisecond) or refuse are usage errors.
        for command in [["dlq", "replay", "+"], ["dlq", "show", "1700000000000"], ["dlq", "purge", "abc", "--yes"], ["dlq", "replay", "1-2", "-"]] {
            let (status, output) = try await runTool("telemetryctl", command + ["--redis-port", "1"])
            #expect(status == 64, "\(command): \(output)")
        }
        let (unknown, _) = try await runTool("telemetryctl", ["dlq", "replay"])
        #expect(unknown == 64)
        for command in [["queues"], ["dlq", "list"], ["dlq", "show", "1-1"], ["dlq", "replay", "--all"], ["queues", "--json"]] {
            let (status, output) = try await runTool("telemetryctl", command + ["--redis-host", "127.0.0.1", "--redis-port", "1"])
            let lines = output.split(separator: "\n")
            #expect(status == 1 && lines.count == 1 && lines[0].hasPrefix("telemetryctl: ") && output.contains("127.0.0.1:1"), "\(command): \(output)")
        }
        let (noSocket, socketOutput) = try await runTool("telemetryctl", ["status", "--socket", "/nonexistent/hub.sock"])
        #expect(noSocket == 1 && socketOutput.split(separator: "\n").count == 1, "\(socketOutput)")
        let (version, versionOutput) = try await runTool("telemetryctl", ["version", "--json"])
        let versionDocument = try JSONSerialization.jsonObject(with: Data(versionOutput.utf8)) as? [String: Any]
        #expect(version == 0 && versionDocument?["version"] as? String == TelemetryVersion.current)
        let deployment = try Deployment()
        let redis = try TestServers.redis()
        _ = try redis.send(RedisCommand.deadLetter(keys: RedisKeys(prefix: deployment.prefix), DeadLetter(
            reason: "invalid_field", message: "m", attempts: 1, firstFailureMillis: 0, lastFailureMillis: 0, source: "compat", sourceID: "t",
            payload: [0xFF, 0x00, 0xFE])))
        let id = try #require(try deployment.deadLetters().first?.id)
        let (shown, show) = try await runTool("telemetryctl", ["dlq", "show", id, "--json"] + deployment.ctlOptions)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(show.utf8)) as? [String: Any], "\(show)")
        #expect(shown == 0 && object["payload_base64"] as? String == "/wD+" && object["reason"] as? String == "invalid_field")
    }

    @Test("telemetryctl finds Redis, the key prefix, the shards and the group in a daemon's configuration file; flags win over it")
    func ctlReadsDaemonConfiguration() async throws {
        let deployment = try Deployment()
        let redis = try TestServers.redis()
        let file = "\(TestServers.logDirectory)/ctl-\(deployment.prefix).yaml"
        try """
            redis:
              host: \(TestServers.redisHost)
              port: \(TestServers.redisPort)
              key_prefix: \(deployment.prefix)
            streams:
              shards: 3
            consumer:
              group: ctlgroup
            """.write(toFile: file, atomically: true, encoding: .utf8)
        _ = try redis.send(["XGROUP", "CREATE", "\(deployment.prefix):stream:1", "ctlgroup", "0", "MKSTREAM"])
        _ = try redis.send(["XADD", "\(deployment.prefix):stream:1", "*", "d", "x"])
        _ = try redis.send(["XADD", "\(deployment.prefix):dlq", "*", "reason", "invalid_field", "message", "m", "source", "compat", "payload", "{}"])
        // No Redis settings in the environment: everything comes from the file.
        func ctl(_ arguments: [String]) async throws -> (Int32, String) {
            try await runTool("/usr/bin/env", ["-u", "REDIS_HOST", "-u", "REDIS_PORT", "-u", "REDIS_KEY_PREFIX", "-u", "STREAMS_SHARDS",
                                               "-u", "CONSUMER_GROUP", "\(TestServers.binDirectory)/telemetryctl"] + arguments)
        }
        let (code, output) = try await ctl(["queues", "--json", "--config", file])
        #expect(code == 0, "\(output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
        let shards = try #require(object["shards"] as? [[String: Any]])
        #expect(shards.count == 3)
        #expect(shards.first { $0["shard"] as? Int == 1 }?["length"] as? Int == 1)
        #expect(object["dead_letters"] as? Int == 1)
        let (listed, list) = try await ctl(["dlq", "list", "--config", file])
        #expect(listed == 0 && list.contains("invalid_field"), "\(list)")
        // A flag wins over the file: another prefix has no dead letters.
        let (_, other) = try await ctl(["queues", "--json", "--config", file, "--key-prefix", "\(deployment.prefix)x"])
        #expect((try JSONSerialization.jsonObject(with: Data(other.utf8)) as? [String: Any])?["dead_letters"] as? Int == 0, "\(other)")
    }
}
