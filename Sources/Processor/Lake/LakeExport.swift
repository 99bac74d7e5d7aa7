import Crypto
import Foundation
import Parquet
import Postgres
import SystemPackage
import SystemSupport
import TelemetryCore

/// The lake's file schema: one row per sample, sorted by device, metric and time.
package enum LakeSchema {
    package static let columns = [
        ParquetColumn("device", .string), ParquetColumn("metric", .string), ParquetColumn("unit", .string, nullable: true),
        ParquetColumn("tenant", .string), ParquetColumn("ts", .timestampMicros), ParquetColumn("value", .double),
        ParquetColumn("ingested_at", .timestampMicros),
    ]
    /// device, metric, ts: the order of the rows (COLLATE "C": byte order, as Parquet's statistics compare).
    package static let sortingColumns = [0, 1, 4]

    /// The `COPY` that reads one UTC day in the file's column order and row order.
    package static func copy(day: Int) -> String {
        let from = LakeLayout.dayText(day), to = LakeLayout.dayText(day + 1)
        return """
            COPY (SELECT d.name, m.name, m.unit, t.name, s.ts, s.value, s.ingested_at
                  FROM samples s JOIN devices d ON d.id = s.device_id JOIN metrics m ON m.id = s.metric_id JOIN tenants t ON t.id = d.tenant_id
                  WHERE s.ts >= '\(from) 00:00:00+00' AND s.ts < '\(to) 00:00:00+00'
                  ORDER BY d.name COLLATE "C", m.name COLLATE "C", s.ts, t.name COLLATE "C") TO STDOUT (FORMAT binary)
            """
    }
}

/// The columns of one row group being filled from the `COPY` stream.
struct SampleRowGroup {
    var devices: ParquetStrings, metrics: ParquetStrings, units: ParquetStrings, tenants: ParquetStrings
    var ts: [Int64] = [], values: [Double] = [], ingested: [Int64] = []
    var count: Int { ts.count }

    init(capacity: Int) {
        devices = ParquetStrings(capacity: capacity); metrics = ParquetStrings(capacity: capacity)
        units = ParquetStrings(capacity: capacity); tenants = ParquetStrings(capacity: capacity)
        ts.reserveCapacity(capacity); values.reserveCapacity(capacity); ingested.reserveCapacity(capacity)
    }

    mutating func append(_ row: borrowing BinaryCopyReader.Row) throws {
        guard row.count == 7 else { throw LakeError("the export query returned \(row.count) columns, not 7") }
        devices.append(row.bytes(0))
        metrics.append(row.bytes(1))
        if row.isNull(2) { units.appendNull() } else { units.append(row.bytes(2)) }
        tenants.append(row.bytes(3))
        ts.append(try row.unixMicros(4))
        values.append(try row.float8(5))
        ingested.append(try row.unixMicros(6))
    }

    var columns: [ParquetColumnData] {
        [.strings(devices), .strings(metrics), .strings(units), .strings(tenants), .int64(ts), .double(values), .int64(ingested)]
    }
}

/// A sink that writes the file and hashes it on the way (the manifest's checksum).
final class HashingFileSink: ParquetSink {
    let file: ParquetFileSink
    var hash = SHA256()
    init(descriptor: FileDescriptor) { file = ParquetFileSink(descriptor: descriptor) }
    func write(_ bytes: [UInt8]) throws {
        try file.write(bytes)
        hash.update(data: bytes)
    }
}

/// What one export of a day did.
package struct LakeDayExport: Sendable, Equatable {
    package var day: Int
    package var rows: Int64
    package var bytes: Int64
    package var rowGroups: Int
    package var sha256: String
    package var changes: Int64
}

extension LakeExporter {
    /// Exports `day` (see ``LakeExporter``): under the lake's advisory lock, from one snapshot.
    /// With `onlyIfDue`, a day another exporter brought up to date while this one waited for
    /// the lock is skipped (nil).
    static func export(day: Int, _ pg: PostgresConnection, layout: LakeLayout, settings: LakeConfiguration,
                       stallFile: String?, onlyIfDue: Bool = false) throws -> LakeDayExport? {
        try pg.execute("SELECT pg_advisory_lock(hashtext('telemetry_lake'))")
        var transactionOpen = false
        defer {
            if pg.isUsable {
                if transactionOpen { _ = try? pg.execute("ROLLBACK") }  // left open by a failure
                _ = try? pg.execute("SELECT pg_advisory_unlock(hashtext('telemetry_lake'))")
            }
        }
        let dayText = LakeLayout.dayText(day)
        // A day whose partition is gone (retention) keeps the file it has: an empty export
        // would replace the lake's only copy. A role under row-level security would see part
        // of the day only.
        let checks = try pg.query("""
            SELECT to_regclass($1) IS NOT NULL, row_security_active('samples'),
                   coalesce((SELECT exported_changes = changes AND snapshot_at >= $2::date + interval '1 day 1 minute' FROM lake_days WHERE day = $2::date), false)
            """, ["samples_p" + dayText.replacingOccurrences(of: "-", with: ""), dayText]).rows.first ?? []
        guard checks.first??.hasPrefix("t") == true else {
            throw LakeError("no partition of samples holds \(dayText) (dropped by partitions.retention_days?): the lake keeps the day as it is")
        }
        guard checks.count > 1, checks[1] == "f" else {
            throw LakeError("row-level security applies to this role on samples: export as the tables' owner (the processor's role)")
        }
        if onlyIfDue, checks.count > 2, checks[2] == "t" { return nil }
        let folder = layout.directory(day)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        layout.removeTemporaries(day)
        let temporary = layout.temporaryPath(day, for: LakeLayout.dataFile)
        let descriptor = try FileDescriptor.open(temporary, .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        var closed = false
        defer { if !closed { try? descriptor.close(); try? FileSystem.remove(temporary) } }

        try pg.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        transactionOpen = true
        // From here to COMMIT, a failure leaves the transaction to the deferred ROLLBACK.
        let head = try pg.query("SELECT coalesce((SELECT changes FROM lake_days WHERE day = $1::date), 0), to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
                                [LakeLayout.dayText(day)])
        let changes = Int64(head.rows.first?[0] ?? "") ?? 0
        let snapshotAt = head.rows.first?[1].flatMap { $0 } ?? ""
        let sink = HashingFileSink(descriptor: descriptor)
        let writer = try ParquetWriter(columns: LakeSchema.columns, options: ParquetOptions(
            compression: settings.compression, zstdLevel: Int32(settings.zstdLevel), pageRows: settings.pageRows,
            sortingColumns: LakeSchema.sortingColumns, createdBy: "telemetry-parquet version 1.0.0 (telemetry lake)",
            keyValueMetadata: [("telemetry.table", LakeLayout.table), ("telemetry.day", LakeLayout.dayText(day)), ("telemetry.snapshot_at", snapshotAt)]), sink: sink)
        var group = SampleRowGroup(capacity: min(settings.rowGroupRows, 1 << 20))
        var reader = BinaryCopyReader()
        var groupsWritten = 0
        do {
            try pg.copyOut(LakeSchema.copy(day: day)) { chunk in
                try reader.rows(in: chunk) { row in
                    try group.append(row)
                    if group.count >= settings.rowGroupRows {
                        try writer.write(rowGroup: group.columns)
                        group = SampleRowGroup(capacity: min(settings.rowGroupRows, 1 << 20))
                        groupsWritten += 1
                        if groupsWritten == 1, let stallFile { Self.stall(stallFile) }
                    }
                }
            }
            try pg.execute("COMMIT")
            transactionOpen = false
        }
        try writer.write(rowGroup: group.columns)
        let summary = try writer.close()
        try FileSystem.sync(descriptor: descriptor.rawValue, path: temporary)
        try descriptor.close()
        closed = true
        let digest = sink.hash.finalize().map { String(format: "%02x", $0) }.joined()
        if summary.rows > 0 {
            try FileSystem.rename(temporary, to: layout.dataPath(day))
        } else {
            // A day without rows has no data file (an empty file would be a file of no rows).
            try FileSystem.remove(temporary)
            if FileManager.default.fileExists(atPath: layout.dataPath(day)) { try FileSystem.remove(layout.dataPath(day)) }
        }
        try FileSystem.syncDirectory(folder)
        let manifest = LakeManifest(
            table: LakeLayout.table, day: LakeLayout.dayText(day), rows: summary.rows,
            files: summary.rows > 0 ? [.init(path: LakeLayout.dataFile, rows: summary.rows, bytes: summary.bytes, sha256: digest, rowGroups: summary.rowGroups)] : [],
            compression: settings.compression.rawValue, snapshotAt: snapshotAt,
            exportedAt: Timestamp.formatRFC3339(micros: wallClockMicros()), changes: changes)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try layout.replace(layout.manifestPath(day), with: Array(try encoder.encode(manifest)) + [0x0A], day: day)
        try pg.query("""
            INSERT INTO lake_days AS l (day, exported_changes, exported_rows, exported_bytes, exported_at, snapshot_at, sha256)
            VALUES ($1::date, $2::bigint, $3::bigint, $4::bigint, now(), $5::timestamptz, $6)
            ON CONFLICT (day) DO UPDATE SET exported_changes = EXCLUDED.exported_changes, exported_rows = EXCLUDED.exported_rows,
                exported_bytes = EXCLUDED.exported_bytes, exported_at = EXCLUDED.exported_at, snapshot_at = EXCLUDED.snapshot_at, sha256 = EXCLUDED.sha256
            """, [LakeLayout.dayText(day), String(changes), String(summary.rows), String(summary.bytes), snapshotAt, digest])
        return LakeDayExport(day: day, rows: summary.rows, bytes: summary.rows > 0 ? summary.bytes : 0, rowGroups: summary.rowGroups,
                             sha256: digest, changes: changes)
    }

    /// Test-only (`TELEMETRY_FAULT_LAKE_STALL_FILE=PATH`): after the first row group, creates
    /// PATH and waits — the crash drill kills the exporter there, mid-write.
    static func stall(_ path: String) {
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        Thread.sleep(forTimeInterval: 120)
    }
}
