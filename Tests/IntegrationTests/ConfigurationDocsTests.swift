import Configuration
import Control
import Foundation
import Hub
import Processor
import Query
import TelemetryConfiguration
import Testing

/// Docs/configuration.md against the code, both ways: every key a daemon reads is documented,
/// and every key the page documents is read.
@Suite("Configuration reference")
struct ConfigurationDocsTests {
    /// The keys the page's tables name (first column), patterns expanded for the metrics that
    /// have built-in thresholds and ranges.
    static func documentedKeys() throws -> Set<String> {
        let text = try String(contentsOfFile: TestServers.root.appendingPathComponent("Docs/configuration.md").path, encoding: .utf8)
        var keys = Set<String>()
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cell = line.split(separator: "|", omittingEmptySubsequences: true).first ?? ""
            for token in cell.split(separator: "`").enumerated().filter({ $0.offset % 2 == 1 }).map({ String($0.element) }) {
                guard token.first?.isLowercase == true else { continue }  // SPOOL_DIR, LOG_JOURNAL: environment names
                guard !token.contains("<name>") else { continue }  // read for each declared bus or metric only
                let parts = token.split(separator: ".").map(String.init)
                var expanded = [""]
                for part in parts {
                    let choices = part == "<metric>" ? ["temperature", "humidity", "pressure"] : part.split(separator: "/").map(String.init)
                    expanded = expanded.flatMap { prefix in choices.map { prefix.isEmpty ? $0 : "\(prefix).\($0)" } }
                }
                keys.formUnion(expanded)
            }
        }
        return keys
    }

    /// What the daemons read with no configuration at all (buses appear only once named).
    static func readKeys() -> Set<String> {
        let empty = ConfigReader(provider: InMemoryProvider(values: [:]))
        let hub = (try? ConfigKeyCatalog.recording { _ = try HubSettings(reader: empty); _ = try DaemonRuntime.logLevel(empty); _ = try DaemonRuntime.logFormat(empty) })?.1 ?? []
        let processor = (try? ConfigKeyCatalog.recording { _ = try ProcessorSettings(reader: empty) })?.1 ?? []
        let query = (try? ConfigKeyCatalog.recording { _ = try QuerySettings(reader: empty) })?.1 ?? []
        return Set((hub + processor + query).map(\.key))
    }

    @Test("every key the daemons read is in Docs/configuration.md, and every key there is read")
    func bothWays() throws {
        let documented = try Self.documentedKeys()
        let read = Self.readKeys()
        #expect(read.count > 80, "the recording read too little: \(read.sorted())")
        let undocumented = read.subtracting(documented).sorted()
        let unread = documented.subtracting(read).sorted()
        #expect(undocumented.isEmpty, "read but not documented: \(undocumented)")
        #expect(unread.isEmpty, "documented but not read: \(unread)")
    }
}
