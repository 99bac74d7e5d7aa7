import ArgumentParser
import Foundation
import TelemetryCore

/// `telemetryctl spool …`: the hub's on-disk spool, read offline.
struct Spool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect a hub's spool directory.",
        subcommands: [Verify.self])

    /// `telemetryctl spool verify PATH`: the checksum walk the hub does at start, without writing.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk a spool's records and checksums offline; exit 1 when any part is damaged. Never writes.")

        @Argument(help: "The spool directory (spool.dir; under systemd /var/lib/telemetry-hub/spool).")
        var path: String

        @Flag(help: "Print one JSON document.")
        var json = false

        func run() throws {
            // Nothing unread may count as clean: an unreadable directory or segment is a failure (1).
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: path)
            } catch {
                throw CtlFailure("cannot read the spool directory \(path): \(error.localizedDescription)")
            }
            var segments: [(number: UInt64, bytes: [UInt8])] = []
            for name in names {
                guard let number = SpoolLayout.segmentNumber(fileName: name) else { continue }
                guard let data = FileManager.default.contents(atPath: "\(path)/\(name)") else {
                    throw CtlFailure("cannot read \(path)/\(name)")
                }
                segments.append((number, [UInt8](data)))
            }
            let headText = try? String(contentsOfFile: "\(path)/\(SpoolLayout.headFileName)", encoding: .utf8)
            let head = headText.flatMap(SpoolLayout.parseHead)
            let reports = SpoolLayout.verify(segments: segments, head: head)
            let records = reports.reduce(0) { $0 + $1.records }
            let damagedBytes = reports.reduce(0) { $0 + $1.damaged.reduce(0) { $0 + $1.count } }
            let clean = damagedBytes == 0 && (headText == nil || head != nil)
            if json {
                let document: [String: Any] = [
                    "path": path, "clean": clean, "records": records, "damaged_bytes": damagedBytes,
                    "head": head.map { ["segment": $0.segment, "offset": $0.offset] as [String: Any] } ?? NSNull(),
                    "segments": reports.map { report in
                        ["segment": report.number, "bytes": report.bytes, "records": report.records,
                         "damaged": report.damaged.map { ["offset": $0.lowerBound, "bytes": $0.count] }] as [String: Any]
                    },
                ]
                let data = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                if headText != nil && head == nil { print("head index unreadable: \(headText ?? "")") }
                for report in reports {
                    let damage = report.damaged.isEmpty ? "" : ", damaged " + report.damaged.map { "\($0.count) bytes at \($0.lowerBound)" }.joined(separator: ", ")
                    print("\(SpoolLayout.segmentFileName(report.number)): \(report.bytes) bytes, \(report.records) records\(damage)")
                }
                print("\(clean ? "clean" : "DAMAGED"): \(records) records in \(reports.count) segments\(damagedBytes > 0 ? ", \(damagedBytes) damaged bytes" : "")")
            }
            if !clean { throw ExitCode(1) }
        }
    }
}
