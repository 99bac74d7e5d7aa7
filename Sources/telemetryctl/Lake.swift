import ArgumentParser
import Foundation
import Logging
import Processor
import TelemetryConfiguration
import TelemetryCore

/// `telemetryctl lake …`: the Parquet lake (Docs/lake.md). Both commands need only the
/// database (and the lake's folder): no daemon has to run.
struct Lake: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show and export the Parquet lake's days.",
        subcommands: [LakeStatus.self, LakeExportDay.self])

    /// Where the database and the lake are: the processor's configuration, the flags winning.
    struct Options: ParsableArguments {
        @Option(help: "The processor's configuration file (YAML) to read postgres.url and lake.* from.")
        var config: String?
        @Option(help: "libpq connection string or URL (default: postgres.url, $POSTGRES_URL, or libpq's PG* variables).")
        var postgresURL: String?
        @Option(help: "The lake's root folder (default: lake.path, $LAKE_PATH).")
        var path: String?

        func exporter() async throws -> LakeExporter {
            let reader = try await ConfigurationLoader.reader(arguments: ["telemetryctl"] + (config.map { ["--config", $0] } ?? []))
            var settings = try reader.section("lake", LakeConfiguration.init(reader:))
            if let path { settings.path = path }
            guard !settings.path.isEmpty else { throw ValidationError("no lake folder: give --path, or lake.path in --config, or LAKE_PATH") }
            let url = try postgresURL ?? reader.strictString("postgres.url", default: "")
            var logger = Logger(label: "telemetryctl")
            logger.logLevel = .warning
            return LakeExporter(conninfo: url, settings: settings, logger: logger)
        }
    }
}

/// `telemetryctl lake status`: each day with a partition, its state and what its files hold.
struct LakeStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "List the days of samples and their state in the lake.")

    @OptionGroup var options: Lake.Options
    @Flag(help: "Print one JSON document.") var json = false

    func run() async throws {
        let exporter = try await options.exporter()
        let states: [LakeDayState]
        do {
            states = try await exporter.days(nowMicros: wallClockMicros())
        } catch {
            throw CtlFailure("postgres: \(error)")
        }
        await exporter.close()
        let layout = exporter.layout
        let onDisk = Set(layout.daysOnDisk())
        var objects: [[String: Any]] = []
        for state in states {
            let manifest = layout.manifest(state.day)
            var object: [String: Any] = ["day": LakeLayout.dayText(state.day), "state": state.state, "changes": state.changes]
            if let rows = state.exportedRows { object["rows"] = rows }
            if let bytes = state.exportedBytes { object["bytes"] = bytes }
            if let rows = state.exportedRows, let bytes = state.exportedBytes, rows > 0 { object["bytes_per_sample"] = (Double(bytes) / Double(rows) * 100).rounded() / 100 }
            if let at = state.exportedAt { object["exported_at"] = at }
            // The manifest on disk should say what the database recorded.
            if state.exportedChanges != nil { object["manifest"] = manifest.map { $0.rows == state.exportedRows ? "ok" : "differs" } ?? "missing" }
            objects.append(object)
        }
        let dropped = onDisk.subtracting(states.map(\.day)).sorted()
        for day in dropped {
            // Days whose partition retention dropped: the lake keeps them.
            let manifest = layout.manifest(day)
            objects.append(["day": LakeLayout.dayText(day), "state": "archived", "rows": manifest?.rows ?? 0,
                            "bytes": manifest?.files.reduce(0) { $0 + $1.bytes } ?? 0, "manifest": manifest == nil ? "missing" : "ok"])
        }
        objects.sort { ($0["day"] as? String ?? "") < ($1["day"] as? String ?? "") }
        if json {
            print(try CtlJSON.text(["path": layout.root, "days": objects]))
            return
        }
        print("lake \(layout.root)")
        print("DAY         STATE     ROWS         BYTES        B/SAMPLE  EXPORTED             MANIFEST")
        for o in objects {
            let rows = (o["rows"] as? Int64).map(String.init) ?? "-"
            let bytes = (o["bytes"] as? Int64).map(String.init) ?? "-"
            let perSample = (o["bytes_per_sample"] as? Double).map { String(format: "%.2f", $0) } ?? "-"
            print([pad(o["day"] as? String ?? "", 11), pad(o["state"] as? String ?? "", 9), pad(rows, 12), pad(bytes, 12), pad(perSample, 9),
                   pad(o["exported_at"] as? String ?? "-", 20), o["manifest"] as? String ?? "-"].joined(separator: " "))
        }
    }

    private func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }
}

/// `telemetryctl lake export --day D`: exports one day now, complete or not.
struct LakeExportDay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Export one UTC day to the lake now (ignoring lake.delay_s); returns once its files and manifest are in place.")

    @OptionGroup var options: Lake.Options
    @Option(help: "The UTC day, YYYY-MM-DD.") var day: String
    @Flag(help: "Print one JSON document.") var json = false

    func validate() throws {
        guard LakeLayout.day(parsing: day) != nil else { throw ValidationError("'\(day)' is not a date (YYYY-MM-DD)") }
    }

    func run() async throws {
        guard let number = LakeLayout.day(parsing: day) else { throw ValidationError("'\(day)' is not a date (YYYY-MM-DD)") }
        let exporter = try await options.exporter()
        let result: LakeDayExport
        do {
            guard let exported = try await exporter.export(day: number) else { throw LakeError("the export was skipped") }
            result = exported
        } catch {
            await exporter.close()
            throw CtlFailure("lake export of \(day): \(error)")
        }
        await exporter.close()
        let object: [String: Any] = ["day": day, "rows": result.rows, "bytes": result.bytes, "row_groups": result.rowGroups, "sha256": result.sha256,
                                     "path": exporter.layout.directory(number)]
        if json {
            print(try CtlJSON.text(object))
        } else {
            let perSample = result.rows > 0 ? String(format: "%.2f", Double(result.bytes) / Double(result.rows)) : "-"
            print("exported \(day): \(result.rows) rows, \(result.bytes) bytes (\(perSample) per sample) in \(result.rowGroups) row groups to \(exporter.layout.directory(number))")
        }
    }
}
