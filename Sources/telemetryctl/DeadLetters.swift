import ArgumentParser
import Foundation
import Redis
import TelemetryCore

/// `telemetryctl dlq …`: inspect, replay and purge the dead-letter stream.
struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect, replay and purge dead letters.",
        subcommands: [List.self, Show.self, Replay.self, Purge.self])

    /// One dead letter as read from the stream.
    struct Entry {
        var id: String
        var fields: [String: [UInt8]] = [:]
        var letter: DeadLetter { DeadLetter(fields: fields) }
        func text(_ field: DeadLetter.Field) -> String { fields[field.rawValue].map { String(decoding: $0, as: UTF8.self) } ?? "" }
    }

    static func entries(_ client: RedisClient, keys: RedisKeys, from start: String = "-", to end: String = "+", count: Int? = nil) async throws -> [Entry] {
        var command: RedisCommand = ["XRANGE", keys.deadLetters, start, end]
        if let count { command.append("COUNT"); command.append(String(count)) }
        let reply = try await client.send(command)
        return (reply.array ?? []).compactMap { raw in
            guard let parts = raw.array, parts.count == 2, let id = parts[0].string else { return nil }
            var entry = Entry(id: id)
            let fields = parts[1].array ?? []
            var i = 0
            while i + 1 < fields.count {
                if let name = fields[i].string { entry.fields[name] = fields[i + 1].bytes ?? [] }
                i += 2
            }
            return entry
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters, oldest first.")
        @OptionGroup var redis: RedisOptions
        @Option(help: "Only this reason code.") var reason: String?
        @Option(help: "At most this many entries.") var limit = 100
        @Flag(help: "Print JSON lines.") var json = false

        func run() async throws {
            let redis = try await self.redis.settings()
            var entries = try await DeadLetters.entries(redis.client(), keys: redis.keys)
            if let reason { entries = entries.filter { $0.letter.reason == reason } }
            for entry in entries.prefix(limit) {
                let letter = entry.letter
                if json {
                    let object: [String: Any] = ["id": entry.id, "reason": letter.reason, "source": letter.source,
                                                 "source_id": letter.sourceID, "attempts": letter.attempts, "message": letter.message]
                    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
                } else {
                    print("\(entry.id)  \(letter.reason)  \(letter.source)  \(letter.sourceID)  \(letter.message.prefix(80))")
                }
            }
            if !json { print("\(min(entries.count, limit)) of \(entries.count) dead letters") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one dead letter with its payload.")
        @OptionGroup var redis: RedisOptions
        @Argument(help: "Entry id, as printed by `dlq list`.") var id: String

        func run() async throws {
            let redis = try await self.redis.settings()
            guard let entry = try await DeadLetters.entries(redis.client(), keys: redis.keys, from: id, to: id).first else {
                throw ValidationError("no dead letter \(id)")
            }
            print("id:               \(entry.id)")
            for field in DeadLetter.Field.allCases where field != .payload && entry.fields[field.rawValue] != nil {
                print("\((field.rawValue + ":").padding(toLength: 18, withPad: " ", startingAt: 0))\(entry.text(field))")
            }
            let payload = entry.letter.payload
            if let text = String(validating: payload, as: UTF8.self) {
                print("payload (\(payload.count) bytes):\n\(text)")
            } else {
                print("payload (\(payload.count) bytes, binary, base64):\n\(Data(payload).base64EncodedString())")
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead letters back to their ingress and remove them from the dead letters.",
            discussion: """
                Compatibility tasks go back to the task list; hub batches to their shard stream; samples rejected \
                from a hub batch go back as seed tasks of type telemetry.store. What still fails comes back as a new \
                dead letter; what was already stored is not stored twice.
                """)
        @OptionGroup var redis: RedisOptions
        @Argument(help: "Entry ids to replay.") var ids: [String] = []
        @Flag(help: "Replay every dead letter.") var all = false
        @Option(help: "Replay the dead letters with this reason code.") var reason: String?

        func validate() throws {
            if ids.isEmpty && !all && reason == nil { throw ValidationError("name entry ids, --all or --reason CODE") }
        }

        func run() async throws {
            let redis = try await self.redis.settings()
            let client = redis.client()
            let keys = redis.keys
            var entries: [Entry] = []
            if ids.isEmpty {
                entries = try await DeadLetters.entries(client, keys: keys)
                if let reason { entries = entries.filter { $0.letter.reason == reason } }
            } else {
                for id in ids {
                    guard let entry = try await DeadLetters.entries(client, keys: keys, from: id, to: id).first else {
                        throw ValidationError("no dead letter \(id)")
                    }
                    entries.append(entry)
                }
            }
            var replayed = 0
            var failed = 0
            for entry in entries {
                guard entry.letter.payloadTruncatedFrom == nil else {
                    print("\(entry.id): payload was truncated, not replayed")
                    continue
                }
                // Re-inject in one MULTI/EXEC, check every reply of it (a command failing inside
                // EXEC does not stop the others), and only then delete the dead letter. A crash in
                // between re-injects twice on the next replay, which storage deduplicates; deleting
                // first could lose the input.
                let commands = try Self.commands(for: entry, keys: keys)
                let replies = try await client.pipeline([["MULTI"]] + commands + [["EXEC"]])
                let results = replies.last?.array
                let refused = replies.dropLast().compactMap { if case .error(let e) = $0 { e } else { nil } }
                    + (results ?? []).compactMap { if case .error(let e) = $0 { e } else { nil } }
                guard let results, results.count == commands.count, refused.isEmpty else {
                    failed += 1
                    print("\(entry.id): replay failed, the dead letter is kept: \(refused.first ?? "transaction aborted")")
                    continue
                }
                let deleted = try await client.send(["XDEL", keys.deadLetters, entry.id])
                guard deleted.int == 1 else {
                    print("\(entry.id): replayed, but the dead letter was already gone (deleted meanwhile)")
                    continue
                }
                replayed += 1
            }
            print("replayed \(replayed) dead letter(s)" + (failed > 0 ? ", \(failed) failed and kept" : ""))
            if failed > 0 { throw ExitCode(1) }
        }

        static func commands(for entry: Entry, keys: RedisKeys) throws -> [RedisCommand] {
            let letter = entry.letter
            let payload = letter.payload
            let source = letter.source
            if source == "compat" {
                var command: RedisCommand = ["RPUSH", keys.tasks]
                command.append(bytes: payload)
                return [command]
            }
            guard source.hasPrefix("stream:"), let shard = Int(source.dropFirst("stream:".count)) else {
                throw ValidationError("\(entry.id): unknown source \(source)")
            }
            if payload.starts(with: Array("TB".utf8)) {
                let entry = StreamEntry(version: String(payload.count > 2 ? payload[2] : 1), batchID: nil, data: payload)
                return [RedisCommand.streamEntry(key: keys.stream(shard), entry)]
            }
            // Samples rejected from a hub batch: one JSON object per line.
            let samples: [RejectedSample]
            do {
                samples = try RejectedSample.parse(payload: payload)
            } catch {
                throw ValidationError("\(entry.id): \(error.message)")
            }
            var commands: [RedisCommand] = []
            for (index, sample) in samples.enumerated() {
                guard let value = sample.value else {
                    throw ValidationError("\(entry.id): line \(index + 1) has no finite value to replay")
                }
                let task: [String: Any] = ["id": "dlq-\(entry.id)-\(index)", "type": "telemetry.store",
                                           "payload": ["device_id": sample.deviceID, "timestamp": Timestamp.formatRFC3339(micros: sample.timestampMicros),
                                                       sample.metric: value]]
                var command: RedisCommand = ["RPUSH", keys.tasks]
                command.append(bytes: Array(try JSONSerialization.data(withJSONObject: task, options: [.sortedKeys])))
                commands.append(command)
            }
            return commands
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete dead letters (all, or the ids given).")
        @OptionGroup var redis: RedisOptions
        @Argument(help: "Entry ids to delete; none deletes every dead letter.") var ids: [String] = []
        @Flag(help: "Do not ask for confirmation.") var yes = false

        func run() async throws {
            let redis = try await self.redis.settings()
            let client = redis.client()
            let keys = redis.keys
            let count = ids.isEmpty ? (try await client.send(["XLEN", keys.deadLetters]).int ?? 0) : ids.count
            if !yes {
                print("delete \(count) dead letter(s) from \(keys.deadLetters)? [y/N] ", terminator: "")
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    print("nothing deleted")
                    return
                }
            }
            if ids.isEmpty {
                try await client.send(["DEL", keys.deadLetters])
            } else {
                try await client.send(RedisCommand(["XDEL", keys.deadLetters] + ids))
            }
            print("deleted \(count) dead letter(s)")
        }
    }
}
