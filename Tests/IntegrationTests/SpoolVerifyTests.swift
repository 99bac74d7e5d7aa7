import Foundation
import Hub
import Testing

/// `telemetryctl spool verify PATH`: the hub's checksum walk, offline and read-only.
@Suite("telemetryctl spool verify")
struct SpoolVerifyTests {
    /// The spool's files (segments and head) with their bytes, by name.
    static func files(_ directory: String) throws -> [(String, Data)] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            .filter { $0 != "quarantine" }
            .map { ($0, try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\($0)"))) }
    }

    @Test("a clean spool is clean (exit 0); a corrupted byte and a cut tail are found (exit 1), and the files are left as they were")
    func verify() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spool-verify-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            // Three segments of small records, one of them replayed already (before the head).
            let store = try SpoolStore(directory: directory, segmentBytes: 300, maxBytes: 1 << 20, fsync: false)
            for i in 0..<12 { try store.append([Array("batch-\(i)-".utf8) + [UInt8](repeating: UInt8(i), count: 40)]) }
            try store.consume(2)
        }
        let (cleanStatus, clean) = try await runTool("telemetryctl", ["spool", "verify", directory])
        #expect(cleanStatus == 0, "\(clean)")
        #expect(clean.contains("clean: 10 records"), "\(clean)")
        let (_, json) = try await runTool("telemetryctl", ["spool", "verify", "--json", directory])
        let document = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(document?["clean"] as? Bool == true && document?["records"] as? Int == 10, "\(json)")

        // Flip a payload byte in the last segment and cut its tail.
        let segments = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("segment-") }.sorted()
        let last = "\(directory)/\(try #require(segments.last))"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: last)))
        bytes[20] ^= 0xFF
        bytes.removeLast(5)
        try Data(bytes).write(to: URL(fileURLWithPath: last))
        let before = try Self.files(directory)
        let (damagedStatus, damaged) = try await runTool("telemetryctl", ["spool", "verify", directory])
        #expect(damagedStatus == 1, "\(damaged)")
        #expect(damaged.contains("DAMAGED") && damaged.contains("damaged"), "\(damaged)")
        let after = try Self.files(directory)
        #expect(before.map(\.0) == after.map(\.0) && before.map(\.1) == after.map(\.1), "spool verify wrote to the spool")

        let (missingStatus, missing) = try await runTool("telemetryctl", ["spool", "verify", "\(directory)-absent"])
        #expect(missingStatus != 0 && missing.contains("cannot read the spool directory"), "\(missing)")
    }
}
