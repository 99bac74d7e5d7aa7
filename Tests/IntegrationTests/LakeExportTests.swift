import Foundation
import Postgres
import Processor
import Testing
import TelemetryCore

/// The lake exporter on real servers: the processor's child exports complete days and again
/// after late readings; `telemetryctl lake export` killed mid-write leaves the old day whole.
@Suite("Parquet lake export (real Redis and PostgreSQL)", .serialized)
struct LakeExportTests {
    static let dayMicros: Int64 = 86_400_000_000

    /// Per day/tenant/device/metric: count, sum, min, max, first and last ts, from SQL, for the days given.
    static func sqlGroups(_ pg: PostgresConnection, days: [String]) throws -> [String: [String]] {
        let rows = try pg.query("""
            SELECT to_char(s.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD') || '/' || t.name || '/' || d.name || '/' || m.name,
                   count(*)::text, sum(s.value)::text, min(s.value)::text, max(s.value)::text,
                   (extract(epoch FROM min(s.ts)) * 1000000)::bigint::text, (extract(epoch FROM max(s.ts)) * 1000000)::bigint::text
            FROM samples s JOIN devices d ON d.id = s.device_id JOIN metrics m ON m.id = s.metric_id JOIN tenants t ON t.id = d.tenant_id
            WHERE to_char(s.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD') = ANY($1::text[])
            GROUP BY 1
            """, [PostgresText.array(days)]).rows
        var groups: [String: [String]] = [:]
        for row in rows { groups[row[0] ?? ""] = row.dropFirst().map { $0 ?? "" } }
        return groups
    }

    /// Every reader's groups equal SQL's: counts, min, max and times exactly, sums to 1e-9.
    static func expectReadersMatch(_ lake: [String: Any], _ sql: [String: [String]], _ context: String) {
        for reader in ["pyarrow", "duckdb", "fastparquet"] {
            let groups = lake[reader] as? [String: [Any]] ?? [:]
            #expect(Set(groups.keys) == Set(sql.keys), "\(reader) \(context): groups \(groups.keys.sorted().prefix(4)) vs SQL \(sql.keys.sorted().prefix(4))")
            var differing: [String] = []
            for (key, want) in sql {
                guard let got = groups[key], got.count == 6 else { differing.append(key); continue }
                let count = (got[0] as? NSNumber)?.intValue
                let sum = Double(got[1] as? String ?? ""), wantSum = Double(want[1]) ?? .nan
                let sumOK = sum.map { abs($0 - wantSum) <= 1e-9 * max(1, abs(wantSum)) } ?? false
                let same = count == Int(want[0]) && sumOK && Double(got[2] as? String ?? "") == Double(want[2])
                    && Double(got[3] as? String ?? "") == Double(want[3])
                    && (got[4] as? NSNumber)?.int64Value == Int64(want[4]) && (got[5] as? NSNumber)?.int64Value == Int64(want[5])
                if !same { differing.append("\(key): \(got) vs \(want)") }
            }
            #expect(differing.isEmpty, "\(reader) \(context): \(differing.prefix(3))")
        }
    }

    static func lakeStatus(_ path: String, _ database: TestDatabase) async throws -> [String: [String: Any]] {
        let (status, output) = try await runTool("telemetryctl", ["lake", "status", "--json", "--path", path, "--postgres-url", database.conninfo])
        guard status == 0, let object = try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] else {
            throw HarnessError("telemetryctl lake status failed (\(status)): \(output)")
        }
        var days: [String: [String: Any]] = [:]
        for day in object["days"] as? [[String: Any]] ?? [] { days[day["day"] as? String ?? ""] = day }
        return days
    }

    /// NDJSON lines for `devices` × `count` readings a minute apart from `start` (temperature and humidity each).
    static func lines(devices: [String], start: Int64, count: Int, seed: Int) -> String {
        var text = ""
        for (d, device) in devices.enumerated() {
            for i in 0..<count {
                let micros = start + Int64(i) * 60_000_000 + Int64(d) * 1000
                let temperature = Double((i * 37 + d * 11 + seed) % 900) / 10 - 20
                let humidity = Double((i * 13 + d * 7 + seed) % 1000) / 10
                text += "{\"device_id\":\"\(device)\",\"timestamp\":\"\(Timestamp.formatRFC3339(micros: micros))\",\"temperature\":\(temperature),\"humidity\":\(humidity)}\n"
            }
        }
        return text
    }

    static func post(_ port: Int, _ body: String) async throws {
        let (_, output) = try await runTool("/usr/bin/curl", ["-s", "-i", "-m", "60", "-X", "POST", "-H", "Content-Type: application/x-ndjson",
                                                               "--data-binary", "@-", "http://127.0.0.1:\(port)/v1/samples"], input: body)
        #expect(output.hasPrefix("HTTP/1.1 202"), "\(output.prefix(500))")
    }

    @Test("the processor exports each complete day, again after a late reading; every reader's counts, sums, min and max per device and metric equal SQL; today stays open")
    func processorExportsDays() async throws {
        let deployment = try Deployment()
        let lake = try LakeTests.folder("daemon")
        let processor = try Daemon("telemetry-processor", name: "lake-processor", environment: deployment.processorEnvironment(extra: [
            "LAKE_PATH": lake, "LAKE_DELAY_S": "0", "LAKE_INTERVAL_S": "1", "LAKE_ROW_GROUP_ROWS": "1000", "LAKE_PAGE_ROWS": "1000"]))
        let hub = try Daemon("telemetry-hub", name: "lake-hub", environment: [
            "REDIS_KEY_PREFIX": deployment.prefix, "SPOOL_DIR": deployment.spoolDirectory, "INGEST_FLUSH_INTERVAL_MS": "5"])
        let port = try await hub.httpPort()
        let today = Timestamp.dayNumber(micros: wallClockMicros())
        let devices = (1...3).map { "\(deployment.prefix)_dev\($0)" }
        let days = [today - 2, today - 1].map { LakeLayout.dayText($0) }
        for (k, day) in [today - 2, today - 1].enumerated() {
            try await Self.post(port, Self.lines(devices: devices, start: Int64(day) * Self.dayMicros + 3_600_000_000, count: 300, seed: k))
        }
        // Today's readings, halfway through the part of today gone by: the day is not over.
        let todayStart = Int64(today) * Self.dayMicros
        try await Self.post(port, Self.lines(devices: devices, start: todayStart + (wallClockMicros() - todayStart) / 2, count: 1, seed: 9))
        let pg = try deployment.database.connect()
        let stored = try await eventually(timeout: .seconds(60)) { try deployment.database.scalar("SELECT count(*) FROM samples") == 3606 }
        #expect(stored, "\(processor.tail)")

        let exported = try await eventually(timeout: .seconds(60)) {
            let status = try await Self.lakeStatus(lake, deployment.database)
            return days.allSatisfy { status[$0]?["state"] as? String == "exported" && (status[$0]?["rows"] as? NSNumber)?.intValue == 1800 }
                && status[LakeLayout.dayText(today)]?["state"] as? String == "open"
        }
        let afterFirst = try await Self.lakeStatus(lake, deployment.database)
        #expect(exported, "\(afterFirst)\n\(processor.tail)")
        let first = try await LakeTests.check(["days", lake])
        #expect((first["files"] as? [String])?.count == 2, "\(first["files"] ?? "")")
        #expect(first["duckdb_hive"] as? [String: Int] == [days[0]: 1800, days[1]: 1800])
        Self.expectReadersMatch(first, try Self.sqlGroups(pg, days: days), "before the late reading")

        // A late reading for the older day: its day is exported again, and only it.
        let manifestBefore = LakeLayout(root: lake).manifest(today - 1)
        try await Self.post(port, Self.lines(devices: [devices[0]], start: Int64(today - 2) * Self.dayMicros + 30_000_000, count: 1, seed: 5))
        let reexported = try await eventually(timeout: .seconds(60)) {
            let status = try await Self.lakeStatus(lake, deployment.database)
            return status[days[0]]?["state"] as? String == "exported" && (status[days[0]]?["rows"] as? NSNumber)?.intValue == 1802
        }
        let afterLate = try await Self.lakeStatus(lake, deployment.database)
        #expect(reexported, "\(afterLate)\n\(processor.tail)")
        let second = try await LakeTests.check(["days", lake])
        #expect(second["duckdb_hive"] as? [String: Int] == [days[0]: 1802, days[1]: 1800])
        Self.expectReadersMatch(second, try Self.sqlGroups(pg, days: days), "after the late reading")
        #expect(LakeLayout(root: lake).manifest(today - 1) == manifestBefore, "the other day was not exported again")
        let manifest = LakeLayout(root: lake).manifest(today - 2)
        let (_, sum) = try await runTool("/usr/bin/sha256sum", [LakeLayout(root: lake).dataPath(today - 2)])
        #expect(manifest?.rows == 1802 && manifest?.files.first.map { sum.hasPrefix($0.sha256) } == true, "\(String(describing: manifest))")
        let (_, metrics) = try await processor.get("/metrics")
        #expect(metrics.contains("telemetry_processor_lake_exports_total") && metrics.contains("telemetry_processor_lake_rows_total"))
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("telemetryctl lake export killed mid-write leaves the old day whole (readers see it, no partial file), and the next run completes the day")
    func killedMidWrite() async throws {
        let database = try TestDatabase.create()
        let pg = try database.connect()
        try MigrationRunner.migrate(pg, migrations: Schema.migrations)
        let day = Timestamp.dayNumber(micros: wallClockMicros()) - 3
        let dayText = LakeLayout.dayText(day)
        try pg.execute("SELECT telemetry_ensure_partition('\(dayText)')")
        try pg.execute("INSERT INTO devices (name) VALUES ('crash_a'), ('crash_b')")
        func insert(_ range: ClosedRange<Int>) throws {
            try pg.execute("""
                INSERT INTO samples (device_id, metric_id, ts, value)
                SELECT 1 + g % 2, 1, '\(dayText) 00:00:00+00'::timestamptz + g * interval '10 seconds', g * 0.5
                FROM generate_series(\(range.lowerBound), \(range.upperBound)) AS g
                """)
        }
        try insert(0...2499)
        let lake = try LakeTests.folder("crash")
        let layout = LakeLayout(root: lake)
        let ctl = ["lake", "export", "--day", dayText, "--path", lake, "--postgres-url", database.conninfo]
        let environment = ["LAKE_ROW_GROUP_ROWS": "1000", "LAKE_PAGE_ROWS": "1000"]
        let (status, output) = try await runTool("telemetryctl", ctl, environment: environment)
        #expect(status == 0 && output.contains("2500 rows"), "\(output)")
        let old = layout.manifest(day)
        #expect(old?.rows == 2500)

        try insert(2500...2509)
        let stall = "\(lake)/stalled"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(TestServers.binDirectory)/telemetryctl")
        process.arguments = ctl
        process.environment = ProcessInfo.processInfo.environment.merging(environment.merging(["TELEMETRY_FAULT_LAKE_STALL_FILE": stall]) { $1 }) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let stalled = try await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: stall) }
        #expect(stalled, "the export did not reach its first row group")
        func expectOldDay(_ when: String) async throws {
            let names = try FileManager.default.contentsOfDirectory(atPath: layout.directory(day))
            #expect(names.filter { $0.hasSuffix(".parquet") } == [LakeLayout.dataFile], "\(when): \(names)")
            #expect(layout.manifest(day) == old, "\(when): the manifest is the old one")
            let (_, sum) = try await runTool("/usr/bin/sha256sum", [layout.dataPath(day)])
            #expect(old.map { sum.hasPrefix($0.files[0].sha256) } == true, "\(when): the data file is the old one")
            let read = try await LakeTests.check(["days", lake])
            #expect(read["duckdb_hive"] as? [String: Int] == [dayText: 2500], "\(when): \(read["duckdb_hive"] ?? "")")
        }
        let temporaries = try FileManager.default.contentsOfDirectory(atPath: layout.directory(day)).filter { $0.hasPrefix(".tmp-") }
        #expect(temporaries.count == 1 && !temporaries[0].hasSuffix(".parquet"), "mid-write: \(temporaries)")
        try await expectOldDay("mid-write")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try await expectOldDay("after kill -9")

        let (again, text) = try await runTool("telemetryctl", ctl + ["--json"], environment: environment)
        #expect(again == 0 && text.contains("\"rows\":2510"), "\(text)")
        let names = try FileManager.default.contentsOfDirectory(atPath: layout.directory(day)).sorted()
        #expect(names == [LakeLayout.manifestFile, LakeLayout.dataFile].sorted(), "the dead export's temporary file is gone: \(names)")
        let read = try await LakeTests.check(["days", lake])
        #expect(read["duckdb_hive"] as? [String: Int] == [dayText: 2510])
        LakeExportTests.expectReadersMatch(read, try Self.sqlGroups(pg, days: [dayText]), "after the second export")
        let exported = try await Self.lakeStatus(lake, database)
        #expect(exported[dayText]?["state"] as? String == "exported" && (exported[dayText]?["rows"] as? NSNumber)?.intValue == 2510, "\(exported)")
        // Retention drops the day's partition: the lake keeps the file, and an export is refused.
        try pg.execute("DROP TABLE samples_p\(dayText.replacingOccurrences(of: "-", with: ""))")
        let (refused, refusal) = try await runTool("telemetryctl", ctl, environment: environment)
        #expect(refused == 1 && refusal.contains("no partition"), "\(refusal)")
        #expect(layout.manifest(day)?.rows == 2510 && FileManager.default.fileExists(atPath: layout.dataPath(day)))
        let archived = try await Self.lakeStatus(lake, database)
        #expect(archived[dayText]?["state"] as? String == "archived", "\(archived)")
        let final = try await Self.lakeStatus(lake, database)
        #expect((final[dayText]?["rows"] as? NSNumber)?.intValue == 2510, "\(final)")
    }
}
