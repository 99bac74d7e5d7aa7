import Foundation
import SystemSupport
import TelemetryCore

/// Where a day lives in the lake and how its files are replaced (Docs/lake.md):
/// `<path>/samples/year=YYYY/month=MM/day=DD/part-0.parquet` and `_manifest.json` beside it.
/// Temporary files start with a dot and do not end in `.parquet`, so readers that glob
/// `*.parquet` (or skip `.`/`_` names, as pyarrow and Spark do) never see them.
package struct LakeLayout: Sendable {
    package let root: String
    package static let table = "samples"
    package static let dataFile = "part-0.parquet"
    package static let manifestFile = "_manifest.json"
    static let temporaryPrefix = ".tmp-"

    package init(root: String) { self.root = root }

    /// `YYYY-MM-DD` of a day number (days since 1970-01-01, UTC).
    package static func dayText(_ day: Int) -> String {
        let (y, m, d) = Timestamp.civil(dayNumber: day)
        return String(format: "%04d-%02d-%02d", y, m, d)
    }

    /// The day number of `YYYY-MM-DD`, nil when it is not a valid date.
    package static func day(parsing text: String) -> Int? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
              (1...12).contains(m), d >= 1, d <= Timestamp.daysInMonth(year: y, month: m) else { return nil }
        return Timestamp.daysFromCivil(year: y, month: m, day: d)
    }

    package func directory(_ day: Int) -> String {
        let (y, m, d) = Timestamp.civil(dayNumber: day)
        return "\(root)/\(Self.table)/" + String(format: "year=%04d/month=%02d/day=%02d", y, m, d)
    }

    package func dataPath(_ day: Int) -> String { "\(directory(day))/\(Self.dataFile)" }
    package func manifestPath(_ day: Int) -> String { "\(directory(day))/\(Self.manifestFile)" }
    func temporaryPath(_ day: Int, for name: String) -> String { "\(directory(day))/\(Self.temporaryPrefix)\(name).\(getpid())" }

    /// Deletes what an export that died left in the day's folder (its temporary files).
    func removeTemporaries(_ day: Int) {
        let folder = directory(day)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasPrefix(Self.temporaryPrefix) {
            try? FileSystem.remove("\(folder)/\(name)")
        }
    }

    /// Writes `bytes` to `path` atomically: a temporary file, fsync, rename, fsync of the folder.
    func replace(_ path: String, with bytes: [UInt8], day: Int) throws {
        let temporary = temporaryPath(day, for: (path as NSString).lastPathComponent)
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
            throw LakeError("cannot write \(temporary)")
        }
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: temporary))
        try FileSystem.sync(descriptor: handle.fileDescriptor, path: temporary)
        try handle.close()
        try FileSystem.rename(temporary, to: path)
        try FileSystem.syncDirectory(directory(day))
    }

    /// The manifest on disk for `day`, nil when there is none or it does not parse.
    package func manifest(_ day: Int) -> LakeManifest? {
        guard let data = FileManager.default.contents(atPath: manifestPath(day)) else { return nil }
        return try? JSONDecoder().decode(LakeManifest.self, from: data)
    }

    /// Days that have a folder in the lake, oldest first.
    package func daysOnDisk() -> [Int] {
        let base = "\(root)/\(Self.table)"
        var days: [Int] = []
        for year in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where year.hasPrefix("year=") {
            for month in (try? FileManager.default.contentsOfDirectory(atPath: "\(base)/\(year)")) ?? [] where month.hasPrefix("month=") {
                for day in (try? FileManager.default.contentsOfDirectory(atPath: "\(base)/\(year)/\(month)")) ?? [] where day.hasPrefix("day=") {
                    if let number = Self.day(parsing: "\(year.dropFirst(5))-\(month.dropFirst(6))-\(day.dropFirst(4))") { days.append(number) }
                }
            }
        }
        return days.sorted()
    }
}

/// A day's `_manifest.json`: what the export wrote and from which state of the database.
package struct LakeManifest: Codable, Sendable, Equatable {
    package struct File: Codable, Sendable, Equatable {
        package var path: String
        package var rows: Int64
        package var bytes: Int64
        package var sha256: String
        package var rowGroups: Int

        enum CodingKeys: String, CodingKey {
            case path, rows, bytes, sha256
            case rowGroups = "row_groups"
        }
    }

    package var format = 1
    package var table: String
    package var day: String
    package var rows: Int64
    package var files: [File]
    package var compression: String
    /// When the export's snapshot of the database was taken (RFC 3339).
    package var snapshotAt: String
    package var exportedAt: String
    /// `lake_days.changes` as that snapshot saw it.
    package var changes: Int64

    enum CodingKeys: String, CodingKey {
        case format, table, day, rows, files, compression, changes
        case snapshotAt = "snapshot_at"
        case exportedAt = "exported_at"
    }
}

/// A lake export that could not be done, in one sentence.
package struct LakeError: Error, CustomStringConvertible, Sendable {
    package let description: String
    package init(_ description: String) { self.description = description }
}
