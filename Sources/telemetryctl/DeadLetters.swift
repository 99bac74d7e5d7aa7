import ArgumentParser
import Foundation
import Redis
import TelemetryCore

/// `telemetryctl dlq …`: inspect, replay and purge the dead-letter stream. Every command pages
/// through the stream (``DeadLetters/scan(_:keys:from:to:pageSize:_:)``), so a stream of a
/// million entries is never read into memory at once.
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

        /// The entry as JSON: every field as text, the payload as text when it is UTF-8, else in
        /// base64 under `payload_base64`.
        var json: [String: Any] {
            var object: [String: Any] = ["id": id]
            let letter = letter
            object["reason"] = letter.reason
            object["message"] = letter.message
            object["source"] = letter.source
            object["source_id"] = letter.sourceID
            object["attempts"] = letter.attempts
            object["first_failure_ms"] = letter.firstFailureMillis
            object["last_failure_ms"] = letter.lastFailureMillis
            if let cut = letter.payloadTruncatedFrom { object["payload_truncated_from"] = cut }
            return object
        }
    }

    /// Entries `start…end` (XRANGE bounds), at most `count`.
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

    /// Calls `body` for each entry from `start` to `end` (inclusive), oldest first, reading a page
    /// of `pageSize` at a time; stops early when `body` returns false. Entries deleted or added
    /// meanwhile do not disturb the walk: each page starts after the last id seen.
    static func scan(_ client: RedisClient, keys: RedisKeys, from start: String = "-", to end: String = "+", pageSize: Int = 500,
                     _ body: (Entry) async throws -> Bool) async throws {
        var next = start
        while true {
            let page = try await entries(client, keys: keys, from: next, to: end, count: pageSize)
            for entry in page where !(try await body(entry)) { return }
            guard page.count == pageSize, let last = page.last else { return }
            next = "(" + last.id
        }
    }

    /// The id of the newest entry now, so that a walk ends there and does not chase the dead
    /// letters its own replays create; nil when the stream is empty.
    static func newestID(_ client: RedisClient, keys: RedisKeys) async throws -> String? {
        let reply = try await client.send(["XREVRANGE", keys.deadLetters, "+", "-", "COUNT", "1"])
        return reply.array?.first?.array?.first?.string
    }

    /// Throws a usage error unless every one of `ids` is a full stream entry id (`<ms>-<seq>`, as
    /// `dlq list` prints them): `+`, `-` or a bare millisecond would name other entries.
    static func validate(ids: [String]) throws {
        for id in ids where StreamID(id) == nil {
            throw ValidationError("'\(id)' is not a dead letter id (<milliseconds>-<sequence>, as dlq list prints it)")
        }
    }

    /// The stream's length.
    static func length(_ client: RedisClient, keys: RedisKeys) async throws -> Int {
        try await client.send(["XLEN", keys.deadLetters]).int ?? 0
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List dead letters, oldest first.",
            discussion: "--json prints one document: {\"entries\": [...], \"matched\": N, \"total\": N}.")
        @OptionGroup var redis: RedisOptions
        @Option(help: "Only this reason code.") var reason: String?
        @Option(help: "Only this source (compat, stream:<n>, bus:<name>).") var source: String?
        @Option(help: "At most this many entries.") var limit = 100
        @Option(help: "Entries read from Redis per page (the walk never holds more).") var pageSize = 500
        @Flag(help: "Print one JSON document.") var json = false

        func validate() throws {
            if limit < 0 { throw ValidationError("--limit must be 0 or more") }
            if pageSize < 1 { throw ValidationError("--page-size must be 1 or more") }
        }

        func run() async throws {
            try await redis.withClient { settings, client in
                let total = try await DeadLetters.length(client, keys: settings.keys)
                let progress = CtlProgress(total: total, label: "reading dead letters")
                defer { progress.finish() }
                var shown: [Entry] = []
                var matched = 0
                try await DeadLetters.scan(client, keys: settings.keys, pageSize: pageSize) { entry in
                    progress.advance()
                    let letter = entry.letter
                    guard reason.map({ letter.reason == $0 }) ?? true, source.map({ letter.source == $0 }) ?? true else { return true }
                    matched += 1
                    if shown.count < limit { shown.append(entry) }
                    // Without a filter the length is the count: no need to read past the last shown.
                    return reason != nil || source != nil || shown.count < limit
                }
                if reason == nil && source == nil { matched = total }
                if json {
                    let document: [String: Any] = ["entries": shown.map(\.json), "matched": matched, "total": total]
                    print(try CtlJSON.text(document))
                } else {
                    for entry in shown {
                        let letter = entry.letter
                        print("\(entry.id)  \(letter.reason)  \(letter.source)  \(letter.sourceID)  \(letter.message.prefix(80))")
                    }
                    print("\(shown.count) of \(matched) dead letters" + (matched == total ? "" : " matching (\(total) in all)"))
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one dead letter with its payload.")
        @OptionGroup var redis: RedisOptions
        @Argument(help: "Entry id, as printed by `dlq list`.") var id: String
        @Flag(help: "Print one JSON document (the payload as text, or base64 under payload_base64 when it is not UTF-8).") var json = false

        func validate() throws { try DeadLetters.validate(ids: [id]) }

        func run() async throws {
            try await redis.withClient { settings, client in
                guard let entry = try await DeadLetters.entries(client, keys: settings.keys, from: id, to: id).first else {
                    throw CtlFailure("no dead letter \(id) in \(settings.keys.deadLetters)")
                }
                let payload = entry.letter.payload
                let text = String(validating: payload, as: UTF8.self)
                if json {
                    var document = entry.json
                    if let text { document["payload"] = text } else { document["payload_base64"] = Data(payload).base64EncodedString() }
                    print(try CtlJSON.text(document))
                    return
                }
                print("id:               \(entry.id)")
                for field in DeadLetter.Field.allCases where field != .payload && entry.fields[field.rawValue] != nil {
                    print("\((field.rawValue + ":").padding(toLength: 18, withPad: " ", startingAt: 0))\(entry.text(field))")
                }
                if let text {
                    print("payload (\(payload.count) bytes):\n\(text)")
                } else {
                    print("payload (\(payload.count) bytes, binary, base64):\n\(Data(payload).base64EncodedString())")
                }
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete dead letters (all, or the ids given).")
        @OptionGroup var redis: RedisOptions
        @Argument(help: "Entry ids to delete; none deletes every dead letter.") var ids: [String] = []
        @Flag(help: "Do not ask for confirmation.") var yes = false

        func validate() throws { try DeadLetters.validate(ids: ids) }

        func run() async throws {
            try await redis.withClient { settings, client in
                let keys = settings.keys
                // Everything up to the newest entry now: dead letters written after the question
                // was asked are not deleted unseen.
                let newest = ids.isEmpty ? try await DeadLetters.newestID(client, keys: keys).flatMap(StreamID.init) : nil
                if ids.isEmpty && newest == nil {
                    print("no dead letters in \(keys.deadLetters)")
                    return
                }
                let count = ids.isEmpty ? try await DeadLetters.length(client, keys: keys) : ids.count
                if !yes {
                    print("delete \(count) dead letter(s) from \(keys.deadLetters)? [y/N] ", terminator: "")
                    guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                        print("nothing deleted")
                        return
                    }
                }
                if let newest {
                    let deleted = try await client.send(["XTRIM", keys.deadLetters, "MINID", "=", newest.successor.description]).int ?? 0
                    print("deleted \(deleted) dead letter(s)")
                } else {
                    let deleted = try await client.send(RedisCommand(["XDEL", keys.deadLetters] + ids)).int ?? 0
                    print("deleted \(deleted) dead letter(s)" + (deleted < ids.count ? " (\(ids.count - deleted) not found)" : ""))
                }
            }
        }
    }
}
