import Foundation
import Testing

/// The systemd units in Deploy/systemd, checked offline against the built binaries.
@Suite("Deploy: systemd units")
struct DeployTests {
    static var root: URL { TestServers.root }

    /// The units with ExecStart pointing at the build (verify fails on a missing binary).
    func stagedUnits() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("units-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for unit in ["telemetry-hub.service", "telemetry-processor.service", "telemetry-query.service"] {
            let text = try String(contentsOf: Self.root.appendingPathComponent("Deploy/systemd/\(unit)"), encoding: .utf8)
            try text.replacingOccurrences(of: "/usr/local/bin/", with: TestServers.binDirectory + "/")
                .write(toFile: "\(directory)/\(unit)", atomically: true, encoding: .utf8)
        }
        return directory
    }

    @Test("systemd-analyze verify prints nothing for any unit")
    func verify() async throws {
        let directory = try stagedUnits()
        let (status, output) = try await runTool("/usr/bin/systemd-analyze",
                                                 ["verify", "\(directory)/telemetry-hub.service", "\(directory)/telemetry-processor.service",
                                                  "\(directory)/telemetry-query.service"])
        #expect(status == 0)
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(output)")
    }

    @Test("systemd-analyze security rates each unit at most 2.5", arguments: ["telemetry-hub.service", "telemetry-processor.service", "telemetry-query.service"])
    func security(unit: String) async throws {
        let directory = try stagedUnits()
        let (_, output) = try await runTool("/usr/bin/systemd-analyze", ["security", "--offline=yes", "\(directory)/\(unit)"])
        let line = try #require(output.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(output)")
        let score = line.split(separator: ":").last.flatMap { Double($0.split(separator: " ").first ?? "") }
        #expect(score != nil && score! <= 2.5, "\(line)")
    }
}
