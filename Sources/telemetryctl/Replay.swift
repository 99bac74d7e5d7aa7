import ArgumentParser
import Foundation
import Logging
import Processor
import Redis
import TelemetryConfiguration
import TelemetryCore

/// `telemetryctl replay`: re-processes the stream entries still in the shard streams between two
/// times (Docs/operations.md, "Replay from the log").
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-process stream entries still within the streams' retention into PostgreSQL.",
        discussion: """
            Entries whose batch is already stored add nothing (the batch ledger), so a replay over a window \
            already stored adds 0 rows and leaves the aggregates exact; after PostgreSQL lost data (a restore, a \
            truncation) it stores again what the streams still hold, with rollups, latest values and alerts. \
            Times are RFC 3339 and select entries by the time the hub wrote them. Samples refused by validation \
            are counted, not dead-lettered again. Reads the processor's configuration (--config, environment) \
            for validation, thresholds and postgres.url. Nothing is acknowledged: running processors are not \
            disturbed. Exit status 1 when a batch could not be stored.
            """)

    @OptionGroup var redis: RedisOptions
    @Option(help: "The shards to replay (repeatable).") var shard: [Int] = []
    @Flag(help: "Replay every shard.") var all = false
    @Option(help: "First entry time, RFC 3339 (e.g. 2026-12-03T00:00:00Z).") var from: String
    @Option(help: "Last entry time, RFC 3339 (default: the newest entry).") var to: String?
    @Option(help: "libpq connection string or URL (default: postgres.url, $POSTGRES_URL, or libpq's PG* variables).") var postgresURL: String?
    @Flag(help: "Print one JSON document with the counts.") var json = false

    func validate() throws {
        guard all != !shard.isEmpty else { throw ValidationError("give --shard N (one or more) or --all") }
        guard let start = Timestamp.parseRFC3339(from) else { throw ValidationError("--from '\(from)' is not an RFC 3339 time") }
        if let to {
            guard let end = Timestamp.parseRFC3339(to) else { throw ValidationError("--to '\(to)' is not an RFC 3339 time") }
            guard end >= start else { throw ValidationError("--to is before --from") }
        }
        guard start >= 0 else { throw ValidationError("--from is before 1970") }
    }

    func run() async throws {
        let reader = try await ConfigurationLoader.reader(arguments: ["telemetryctl"] + (redis.config.map { ["--config", $0] } ?? []))
        var configuration: ProcessorConfiguration
        do {
            configuration = try ProcessorConfiguration(reader: reader)
        } catch {
            throw CtlFailure("configuration: \(error)")
        }
        guard let fromMicros = Timestamp.parseRFC3339(from) else { throw ValidationError("--from '\(from)' is not an RFC 3339 time") }
        let toMillis = to.flatMap(Timestamp.parseRFC3339).map { UInt64(max(0, $0 / 1000)) }
        let url = postgresURL ?? configuration.storage.url
        var logger = Logger(label: "telemetryctl")
        logger.logLevel = .warning
        let outcome: Replayer.Outcome = try await redis.withClient { settings, client in
            configuration.redis.keys = settings.keys
            configuration.shards = settings.shards
            let shards = all ? Array(0..<settings.shards) : shard
            for n in shards where !(0..<settings.shards).contains(n) {
                // A usage error (64), found once the configuration is read.
                FileHandle.standardError.write(Data("telemetryctl: shard \(n) does not exist (streams.shards is \(settings.shards))\n".utf8))
                throw ExitCode.validationFailure
            }
            var total = 0
            for n in shards { total += try await client.send(["XLEN", settings.keys.stream(n)]).int ?? 0 }
            let storage = StorageActor(conninfo: url, logger: logger, name: "replay", maxGroupRows: configuration.storage.groupRows,
                                       maxMetricNames: configuration.maxMetricNames, defaultTenant: configuration.tenants.defaultTenant)
            do {
                // A database restored empty may lack the schema: the processor's migrations, once each.
                try await storage.prepare()
                try await storage.declare(units: configuration.metricUnits)
            } catch {
                throw CtlFailure("postgres: \(error)")
            }
            let bar = CtlProgress(total: total, label: "replay")
            var shown = 0
            let result: Replayer.Outcome
            do {
                result = try await Replayer(configuration: configuration, redis: client, storage: storage, logger: logger)
                    .run(shards: shards, fromMillis: UInt64(fromMicros / 1000), toMillis: toMillis) { done in
                        while shown < done.entries { bar.advance(); shown += 1 }
                    }
            } catch let error as RedisError {
                throw error
            } catch {
                bar.finish()
                throw CtlFailure("postgres: \(error)")
            }
            bar.finish()
            return result
        }
        let fields: [String: Any] = [
            "entries": outcome.entries, "stored": outcome.stored, "duplicate_batches": outcome.duplicateBatches,
            "duplicate_samples": outcome.duplicateSamples, "rejected_samples": outcome.rejectedSamples,
            "undecodable": outcome.undecodable, "failed_batches": outcome.failedBatches, "alerts": outcome.alerts,
        ]
        if json {
            print(try CtlJSON.text(fields))
        } else {
            print("replayed \(outcome.entries) entries: \(outcome.stored) samples stored, \(outcome.duplicateBatches) batches already stored, "
                  + "\(outcome.duplicateSamples) samples already stored, \(outcome.rejectedSamples) refused by validation, "
                  + "\(outcome.undecodable) undecodable, \(outcome.failedBatches) batches failed, \(outcome.alerts) alerts")
        }
        if outcome.failedBatches > 0 { throw ExitCode(1) }
    }
}
