import Foundation
import Parquet
import Postgres
import Processor
import Testing
import TelemetryCore

/// The Parquet lake (Docs/lake.md) read back by three independent readers from PyPI (pyarrow,
/// duckdb, fastparquet, in the test venv): what they read equals what was written, and per day,
/// device and metric what SQL says `samples` holds.
@Suite("Parquet lake", .serialized)
struct LakeTests {
    static var python: String { TestServers.environment["TELEMETRY_PYTHON"] ?? "\(TestServers.logDirectory)/../../venv/bin/python" }
    static var script: String { TestServers.root.appendingPathComponent("Tests/Lake/check_parquet.py").path }

    /// Runs the checker; fails with a message saying how to install the readers when they are missing.
    static func check(_ arguments: [String]) async throws -> [String: Any] {
        let (probe, _) = try await runTool(python, ["-c", "import pyarrow, duckdb, fastparquet"])
        guard probe == 0 else { throw HarnessError("pyarrow, duckdb and fastparquet are not installed for \(python): run `make deps-test`") }
        let (status, output) = try await runTool(python, [script] + arguments)
        guard status == 0, let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] else {
            throw HarnessError("check_parquet.py \(arguments.first ?? "") failed (\(status)):\n\(output.suffix(3000))")
        }
        return object
    }

    static func folder(_ name: String) throws -> String {
        let path = "\(TestServers.logDirectory)/../lake-\(name)-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("every codec, several row groups and pages, NUL and non-ASCII text, missing units, 1e308, -0.0 and the smallest double: all three readers read exactly what was written",
          arguments: ParquetCompression.allCases)
    func readersReadWhatWasWritten(compression: ParquetCompression) async throws {
        let path = "\(try Self.folder("readers"))/sample.parquet"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let writer = try ParquetWriter(columns: LakeSchema.columns, options: ParquetOptions(compression: compression, pageRows: 300, sortingColumns: LakeSchema.sortingColumns),
                                       sink: ParquetFileSink(descriptor: .init(rawValue: handle.fileDescriptor)))
        var expected: [[Any?]] = []
        let values: [Double] = [21.5, 1e308, -1e308, -0.0, .leastNonzeroMagnitude, 0.1, -273.15]
        for group in 0..<3 {
            var devices = ParquetStrings(), metrics = ParquetStrings(), units = ParquetStrings(), tenants = ParquetStrings()
            var ts: [Int64] = [], value: [Double] = [], ingested: [Int64] = []
            let rows = group == 1 ? 1 : 1000
            for i in 0..<rows {
                let device = i % 3 == 0 ? "dev\u{0}nul-\(group)" : i % 3 == 1 ? "Gerät-°-\(group)" : "sensor_\(i / 100)"
                let metric = i % 2 == 0 ? "temperature" : "x"
                let unit: String? = i % 5 == 0 ? nil : i % 5 == 1 ? "" : "°C"
                let micros = 1_764_806_400_000_000 + Int64(group * 1000 + i) * 1_000_123
                devices.append(device); metrics.append(metric); tenants.append(i % 7 == 0 ? "acme" : "default")
                if let unit { units.append(unit) } else { units.appendNull() }
                ts.append(micros); value.append(values[i % values.count]); ingested.append(micros + 250_000)
                expected.append([device, metric, unit, i % 7 == 0 ? "acme" : "default", micros, values[i % values.count], micros + 250_000])
            }
            try writer.write(rowGroup: [.strings(devices), .strings(metrics), .strings(units), .strings(tenants), .int64(ts), .double(value), .int64(ingested)])
        }
        try writer.close()
        try handle.close()
        let read = try await Self.check(["rows", path])
        for reader in ["pyarrow", "duckdb", "fastparquet"] {
            let rows = read[reader] as? [[Any]] ?? []
            #expect(rows.count == expected.count, "\(reader) read \(rows.count) rows")
            var mismatches = 0
            for (got, want) in zip(rows, expected) {
                let same = got[0] as? String == want[0] as? String && got[1] as? String == want[1] as? String
                    && (got[2] as? String) == (want[2] as? String) && got[3] as? String == want[3] as? String
                    && (got[4] as? NSNumber)?.int64Value == want[4] as? Int64
                    && Double(got[5] as? String ?? "")?.bitPattern == (want[5] as? Double)?.bitPattern
                    && (got[6] as? NSNumber)?.int64Value == want[6] as? Int64
                if !same {
                    if mismatches < 3 { Issue.record("\(reader): read \(got), wrote \(want)") }
                    mismatches += 1
                }
            }
            #expect(mismatches == 0, "\(reader): \(mismatches) rows differ")
        }
    }
}
