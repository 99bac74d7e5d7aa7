import Foundation
import Logging
import Postgres
import Synchronization
import TelemetryCore

/// Exports `samples` to the Parquet lake, one UTC day per file (Docs/lake.md).
///
/// A day is due once it is over and `lake.delay_s` has passed, and again whenever rows were
/// added to it after its last export: every storage transaction that stores rows of a past day
/// counts a change on that day's `lake_days` row, in the same transaction, and an export
/// records the count its snapshot saw. An export reads the day from one REPEATABLE READ
/// snapshot with a binary `COPY`, writes `part-0.parquet` under a temporary name, fsyncs it,
/// renames it over the old file (readers see the old day or the new one, never both or half),
/// then writes the manifest the same way and records the export. Exporters in several
/// processors (and `telemetryctl lake export`) take turns under one advisory lock.
///
/// The actor runs on a thread of its own: libpq and the file writes block.
package actor LakeExporter {
    private nonisolated let executor: ThreadExecutor
    package nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    package let settings: LakeConfiguration
    package nonisolated let layout: LakeLayout
    private let logger: Logger
    /// The export sorts a whole day: room for it in memory before it spills to disk.
    private let session: SessionConnection
    private let stallFile = ProcessInfo.processInfo.environment["TELEMETRY_FAULT_LAKE_STALL_FILE"]

    /// Days exported, rows written, failed attempts; days due at the last look; the last export's time.
    package nonisolated let exports = Atomic<Int>(0)
    package nonisolated let rowsExported = Atomic<Int>(0)
    package nonisolated let failures = Atomic<Int>(0)
    package nonisolated let daysDue = Atomic<Int>(0)
    package nonisolated let lastExportMicros = Atomic<Int64>(0)

    package init(conninfo: String, settings: LakeConfiguration, logger: Logger) {
        executor = ThreadExecutor(name: "lake-exporter")
        session = SessionConnection(conninfo: conninfo, setup: ["SET work_mem = '64MB'"])
        self.settings = settings
        layout = LakeLayout(root: settings.path)
        self.logger = logger
    }

    private func live() throws -> PostgresConnection { try session.live() }

    /// Exports `day` now, whatever its completeness; returns once its files and manifest are in
    /// place. With `onlyIfDue`, nil when another exporter brought the day up to date meanwhile.
    @discardableResult
    package func export(day: Int, onlyIfDue: Bool = false) throws -> LakeDayExport? {
        do {
            let started = ContinuousClock.now
            guard let result = try Self.export(day: day, try live(), layout: layout, settings: settings, stallFile: stallFile, onlyIfDue: onlyIfDue) else {
                return nil
            }
            exports.add(1, ordering: .relaxed)
            rowsExported.add(Int(result.rows), ordering: .relaxed)
            lastExportMicros.store(wallClockMicros(), ordering: .relaxed)
            let seconds = (ContinuousClock.now - started) / .milliseconds(1) / 1000
            logger.info("lake day exported", metadata: [
                "day": "\(LakeLayout.dayText(day))", "rows": "\(result.rows)", "bytes": "\(result.bytes)",
                "bytes_per_sample": "\(result.rows > 0 ? String(format: "%.2f", Double(result.bytes) / Double(result.rows)) : "-")",
                "seconds": "\(String(format: "%.2f", seconds))",
            ])
            return result
        } catch {
            failures.add(1, ordering: .relaxed)
            session.forgetIfBroken()
            throw error
        }
    }

    /// Every day with a partition, as the lake sees it at `nowMicros`.
    package func days(nowMicros: Int64) throws -> [LakeDayState] {
        let pg = try live()
        let rows = try pg.execute("""
            SELECT to_char(p.day, 'YYYY-MM-DD'), coalesce(l.changes, 0), l.exported_changes, l.exported_rows, l.exported_bytes,
                   (extract(epoch FROM l.snapshot_at) * 1000000)::bigint, to_char(l.exported_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            FROM (SELECT to_date(substr(c.relname, 10), 'YYYYMMDD') AS day FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                  WHERE i.inhparent = 'samples'::regclass AND c.relname ~ '^samples_p[0-9]{8}$') p
            LEFT JOIN lake_days l USING (day)
            ORDER BY p.day
            """).rows
        var states: [LakeDayState] = []
        for row in rows {
            guard let text = row[0], let day = LakeLayout.day(parsing: text) else { continue }
            var state = LakeDayState(day: day, changes: Int64(row[1] ?? "") ?? 0, exportedChanges: row[2].flatMap { Int64($0) },
                                     exportedRows: row[3].flatMap { Int64($0) }, exportedBytes: row[4].flatMap { Int64($0) },
                                     snapshotMicros: row[5].flatMap { Int64($0) }, exportedAt: row[6])
            state.complete = Int64(day + 1) * 86_400_000_000 + Int64(settings.delaySeconds) * 1_000_000 <= nowMicros
            // Exported before the day was over (by hand, or a clock ahead): the change count
            // does not cover rows stored while it was still today, so count them.
            // Only for two hours after the day's end: later rows are counted as changes by any
            // storage clock.
            if state.complete, state.changes == state.exportedChanges, let snapshot = state.snapshotMicros,
               snapshot < Int64(day + 1) * 86_400_000_000 + 60_000_000, nowMicros < Int64(day + 1) * 86_400_000_000 + 7_200_000_000 {
                let now = try pg.query("SELECT count(*) FROM samples WHERE ts >= $1::timestamptz AND ts < $2::timestamptz",
                                       ["\(text) 00:00:00+00", "\(LakeLayout.dayText(day + 1)) 00:00:00+00"]).rows.first?[0].flatMap { Int64($0) }
                state.rowsChangedSinceExport = now != state.exportedRows
            }
            states.append(state)
        }
        return states
    }

    /// Exports every due day, oldest first; a failure is logged and counted, and the next pass
    /// tries again. Returns what was exported.
    @discardableResult
    package func pass(nowMicros: Int64) -> [LakeDayExport] {
        let due: [Int]
        do {
            due = try days(nowMicros: nowMicros).filter(\.due).map(\.day)
        } catch {
            failures.add(1, ordering: .relaxed)
            session.forgetIfBroken()
            logger.warning("lake: cannot read which days are due", metadata: ["error": "\(error)"])
            return []
        }
        daysDue.store(due.count, ordering: .relaxed)
        var done: [LakeDayExport] = []
        for day in due {
            do {
                if let result = try export(day: day, onlyIfDue: true) { done.append(result) }
                daysDue.subtract(1, ordering: .relaxed)
            } catch {
                logger.error("lake export failed", metadata: ["day": "\(LakeLayout.dayText(day))", "error": "\(error)"])
                break
            }
        }
        return done
    }

    package func close() { session.close() }
}

/// One day as the exporter sees it.
package struct LakeDayState: Sendable, Equatable {
    package var day: Int
    /// Transactions that stored rows of the day once it was over.
    package var changes: Int64
    /// ``changes`` as the last export's snapshot saw it (nil: never exported).
    package var exportedChanges: Int64?
    package var exportedRows: Int64?
    package var exportedBytes: Int64?
    package var snapshotMicros: Int64?
    package var exportedAt: String?
    /// Over, and past `lake.delay_s`.
    package var complete = false
    /// An export taken before the day was over whose row count no longer matches.
    package var rowsChangedSinceExport = false

    /// `exported`, `stale` (rows added since), `pending` (complete, never exported) or `open`.
    package var state: String {
        if exportedChanges == nil { return complete ? "pending" : "open" }
        return changes != exportedChanges || rowsChangedSinceExport ? "stale" : "exported"
    }

    package var due: Bool { complete && state != "exported" }
}
