import ArgumentParser
import Foundation
import Redis
import TelemetryConfiguration
import TelemetryCore

extension DeadLetters {
    /// `telemetryctl dlq replay`: sends dead letters back to their ingress, one at a time, and
    /// reports each: replayed (and deleted), not replayable (kept, with why), or failed (kept).
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead letters back to their ingress and remove them from the dead letters.",
            discussion: """
                Compatibility tasks go back to the task list; hub batches to their shard stream; samples rejected \
                from a hub batch go back as seed tasks of type telemetry.store. The hub's bus:<name> dead letters \
                (device input it could not read) cannot be replayed: they are reported and kept, as are entries whose \
                payload was truncated. What still fails comes back as a new dead letter; what was already stored is \
                not stored twice. --all and --reason walk the stream in pages up to the newest entry at the start, \
                so the dead letters a replay creates are not replayed again in the same run. Exit status 1 when a \
                replay failed or a named entry does not exist or cannot be replayed.
                """)
        @OptionGroup var redis: RedisOptions
        @Argument(help: "Entry ids to replay.") var ids: [String] = []
        @Flag(help: "Replay every dead letter.") var all = false
        @Option(help: "Replay the dead letters with this reason code.") var reason: String?
        @Option(help: "Replay the dead letters from this source (compat, stream:<n>, bus:<name>).") var source: String?
        @Option(help: "Entries read from Redis per page (the walk never holds more).") var pageSize = 500
        @Flag(help: "Print one JSON document with the counts and each entry's result.") var json = false

        func validate() throws {
            if ids.isEmpty && !all && reason == nil && source == nil { throw ValidationError("name entry ids, --all, --reason CODE or --source SOURCE") }
            if pageSize < 1 { throw ValidationError("--page-size must be 1 or more") }
            if !ids.isEmpty && (all || reason != nil || source != nil) { throw ValidationError("name entry ids or a selection (--all, --reason, --source), not both") }
            try DeadLetters.validate(ids: ids)
        }

        /// What happened to one entry.
        enum Outcome: String {
            case replayed
            case notReplayable = "not_replayable"
            case failed
            case gone
            case missing
        }

        func run() async throws {
            try await redis.withClient { settings, client in
                var counts: [Outcome: Int] = [:]
                var progress: CtlProgress?
                defer { progress?.finish() }
                // --json streams one document: the entries as they are replayed (nothing held
                // per entry), then the counts, and the error when the walk stopped on one.
                var opened = false
                func open() {
                    if json && !opened { print("{\"entries\":[", terminator: "") }
                    opened = true
                }
                func report(_ id: String, _ source: String, _ outcome: Outcome, _ detail: String?) throws {
                    let first = counts.isEmpty
                    counts[outcome, default: 0] += 1
                    if json {
                        var result: [String: Any] = ["id": id, "source": source, "result": outcome.rawValue]
                        if let detail { result["detail"] = detail }
                        open()
                        print((first ? "" : ",") + (try CtlJSON.text(result)), terminator: "")
                    } else {
                        let line = "\(id)  \(source)  \(outcome.rawValue.replacingOccurrences(of: "_", with: " "))" + (detail.map { ": \($0)" } ?? "")
                        progress.map { $0.print(line) } ?? print(line)
                    }
                }
                func finish(error: String?) throws {
                    progress?.finish()
                    let replayed = counts[.replayed, default: 0], notReplayable = counts[.notReplayable, default: 0]
                    let failed = counts[.failed, default: 0], gone = counts[.gone, default: 0], missing = counts[.missing, default: 0]
                    if json {
                        open()
                        var tail: [String: Any] = ["replayed": replayed, "not_replayable": notReplayable, "failed": failed, "gone": gone, "missing": missing]
                        if let error { tail["error"] = error }
                        print("]," + (try CtlJSON.text(tail)).dropFirst())
                    } else {
                        var summary = "replayed \(replayed) dead letter(s)"
                        if notReplayable > 0 { summary += ", \(notReplayable) not replayable and kept" }
                        if failed > 0 { summary += ", \(failed) failed and kept" }
                        if gone > 0 { summary += ", \(gone) deleted meanwhile" }
                        if missing > 0 { summary += ", \(missing) not found" }
                        print(summary + (error == nil ? "" : " before the walk stopped"))
                    }
                }
                do {
                    if ids.isEmpty {
                        // Up to the newest entry now: replays that fail again add entries after it.
                        if let newest = try await DeadLetters.newestID(client, keys: settings.keys) {
                            let bar = CtlProgress(total: try await DeadLetters.length(client, keys: settings.keys), label: "replaying")
                            progress = bar
                            try await DeadLetters.scan(client, keys: settings.keys, to: newest, pageSize: pageSize) { entry in
                                bar.advance()
                                let letter = entry.letter
                                guard reason.map({ letter.reason == $0 }) ?? true, source.map({ letter.source == $0 }) ?? true else { return true }
                                let (outcome, detail) = try await Self.replay(entry, client: client, keys: settings.keys, shards: settings.shards)
                                try report(entry.id, letter.source, outcome, detail)
                                return true
                            }
                        }
                    } else {
                        for id in ids {
                            do {
                                guard let entry = try await DeadLetters.entries(client, keys: settings.keys, from: id, to: id).first else {
                                    try report(id, "-", .missing, "no such dead letter")
                                    continue
                                }
                                let (outcome, detail) = try await Self.replay(entry, client: client, keys: settings.keys, shards: settings.shards)
                                try report(entry.id, entry.letter.source, outcome, detail)
                            } catch let error as RedisError {
                                try report(id, "-", .failed, "\(error)")
                            }
                        }
                    }
                } catch {
                    // Say what was done before the failure, if anything, then the failure (one
                    // line, exit 1).
                    if !counts.isEmpty { try finish(error: "\(error)") }
                    throw error
                }
                try finish(error: nil)
                if counts[.failed, default: 0] > 0 || counts[.missing, default: 0] > 0 || (!ids.isEmpty && counts[.notReplayable, default: 0] > 0) {
                    throw ExitCode(1)
                }
            }
        }

        /// Replays `entry`: re-injects it in one MULTI/EXEC (one per hash slot in a cluster), checks every reply of it (a command
        /// failing inside EXEC does not stop the others), and only then deletes the dead letter.
        /// A crash in between re-injects twice on the next replay, which storage deduplicates;
        /// deleting first could lose the input.
        static func replay(_ entry: Entry, client: RedisClient, keys: RedisKeys, shards: Int) async throws -> (Outcome, String?) {
            let commands: [RedisCommand]
            switch plan(for: entry, keys: keys, shards: shards) {
            case .notReplayable(let why): return (.notReplayable, why)
            case .commands(let planned): commands = planned
            }
            // In a Redis Cluster a transaction covers one hash slot: one MULTI/EXEC per slot then
            // (a failure after some of them re-injects those twice on the next replay; deduplicated).
            let blocks = keys.hashTags
                ? Dictionary(grouping: commands, by: { ClusterProtocol.slot(of: $0) ?? -1 }).sorted { $0.key < $1.key }.map(\.value)
                : [commands]
            for block in blocks {
                let replies = try await client.pipeline([["MULTI"]] + block + [["EXEC"]])
                let results = replies.last?.array
                let refused = replies.dropLast().compactMap { if case .error(let e) = $0 { e } else { nil } }
                    + (results ?? []).compactMap { if case .error(let e) = $0 { e } else { nil } }
                guard let results, results.count == block.count, refused.isEmpty else {
                    return (.failed, "redis refused the replay, the dead letter is kept: \(refused.first ?? "transaction aborted")")
                }
            }
            guard try await client.send(["XDEL", keys.deadLetters, entry.id]).int == 1 else {
                return (.gone, "replayed, but the dead letter was already gone (deleted meanwhile)")
            }
            return (.replayed, nil)
        }

        /// How an entry goes back: the commands that re-inject it, or why it cannot be.
        enum Plan {
            case commands([RedisCommand])
            case notReplayable(String)
        }

        /// The commands that re-inject `entry` into a deployment of `shards` shard streams.
        static func plan(for entry: Entry, keys: RedisKeys, shards: Int) -> Plan {
            let letter = entry.letter
            let payload = letter.payload
            let source = letter.source
            if letter.payloadTruncatedFrom != nil {
                return .notReplayable("the payload was truncated (\(letter.payloadTruncatedFrom ?? 0) bytes); the original is not kept")
            }
            if source == "compat" {
                var command: RedisCommand = ["RPUSH", keys.tasks]
                command.append(bytes: payload)
                return .commands([command])
            }
            if source.hasPrefix("bus:") {
                return .notReplayable("device input the hub could not read; the device sends it again or not at all (purge it when read)")
            }
            guard source.hasPrefix("stream:"), let shard = Int(source.dropFirst("stream:".count)), shard >= 0 else {
                return .notReplayable("unknown source '\(source)'")
            }
            // No consumer group reads a stream past the configured ones: the entry would be lost.
            guard shard < shards else {
                return .notReplayable("shard \(shard) is not among the \(shards) configured shards (streams.shards, --shards)")
            }
            if payload.starts(with: Array("TB".utf8)) {
                let entry = StreamEntry(version: String(payload.count > 2 ? payload[2] : 1), batchID: nil, data: payload)
                return .commands([RedisCommand.streamEntry(key: keys.stream(shard), entry)])
            }
            // Samples rejected from a hub batch: one JSON object per line.
            let samples: [RejectedSample]
            do {
                samples = try RejectedSample.parse(payload: payload)
            } catch {
                return .notReplayable(error.message)
            }
            if let tenant = samples.first(where: { $0.tenant != nil })?.tenant {
                return tenantBatch(samples, tenant: tenant, entry: entry, key: keys.stream(shard), shard: shard)
            }
            var commands: [RedisCommand] = []
            for (index, sample) in samples.enumerated() {
                guard let value = sample.value else {
                    return .notReplayable("line \(index + 1) has no finite value to replay")
                }
                // A metric named like a field of the task's payload cannot be sent as one.
                guard !["device_id", "timestamp", "raw_data"].contains(sample.metric) else {
                    return .notReplayable("line \(index + 1): the metric name '\(sample.metric)' is a field of the seed payload")
                }
                var payload: [String: Any] = [:]
                payload["device_id"] = sample.deviceID
                payload["timestamp"] = Timestamp.formatRFC3339(micros: sample.timestampMicros)
                payload[sample.metric] = value
                let task: [String: Any] = ["id": "dlq-\(entry.id)-\(index)", "type": "telemetry.store", "payload": payload]
                guard let data = try? JSONSerialization.data(withJSONObject: task, options: [.sortedKeys]) else {
                    return .notReplayable("line \(index + 1) cannot be written as a task")
                }
                var command: RedisCommand = ["RPUSH", keys.tasks]
                command.append(bytes: Array(data))
                commands.append(command)
            }
            return .commands(commands)
        }

        /// Rejected samples of a tenant: seed tasks have no tenant (they are the default tenant's),
        /// so they go back as one hub batch of the tenant (format version 3) onto their shard, under
        /// the id `dlq-<entry id>` (a second replay is a duplicate the processor skips).
        static func tenantBatch(_ samples: [RejectedSample], tenant: String, entry: Entry, key: String, shard: Int) -> Plan {
            guard samples.allSatisfy({ $0.tenant == tenant }) else { return .notReplayable("the lines name more than one tenant") }
            guard TenantDirectory.isValidName(tenant) else { return .notReplayable("the lines name tenant '\(tenant)', not a usable tenant name") }
            guard samples.count <= HubBatchCodec.maxTableEntries else {
                return .notReplayable("\(samples.count) samples are more than one batch holds (\(HubBatchCodec.maxTableEntries))")
            }
            var batch = HubBatch(id: "dlq-\(entry.id)", shard: shard, createdMicros: wallClockMicros(), acknowledged: true, tenant: tenant)
            var devices: [String: UInt32] = [:], metrics: [String: UInt16] = [:]
            for (index, sample) in samples.enumerated() {
                guard let value = sample.value else { return .notReplayable("line \(index + 1) has no finite value to replay") }
                if devices[sample.deviceID] == nil {
                    devices[sample.deviceID] = UInt32(batch.devices.count)
                    batch.devices.append(sample.deviceID)
                }
                if metrics[sample.metric] == nil {
                    metrics[sample.metric] = UInt16(batch.metrics.count)
                    batch.metrics.append(sample.metric)
                }
                batch.samples.append(Sample(deviceIndex: devices[sample.deviceID]!, metricIndex: metrics[sample.metric]!,
                                            timestampMicros: sample.timestampMicros, value: value))
            }
            let bytes = HubBatchCodec.encode(batch)
            return .commands([RedisCommand.streamEntry(key: key, StreamEntry(version: String(bytes[2]), batchID: batch.id, data: bytes))])
        }
    }
}
