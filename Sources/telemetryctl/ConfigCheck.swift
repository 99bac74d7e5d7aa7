import ArgumentParser
import Control
import Foundation
import Hub
import Processor
import Query
import TelemetryConfiguration

/// `telemetryctl config check hub|processor|query FILE`: the checks a daemon makes at start (every
/// value, and every file key known), without running it.
struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a daemon's configuration file.",
        subcommands: [Check.self])

    /// The daemon whose configuration is checked.
    enum DaemonKind: String, ExpressibleByArgument, CaseIterable {
        case hub, processor, query
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate FILE as the daemon would at start and print the effective values (secrets masked).",
            discussion: """
                The same checks as `telemetry-hub check-config --config FILE` (or the processor's or the query daemon's). The environment \
                of this shell is read as the daemon reads its own (a stray LOG_LEVEL here counts); flags are not. \
                Exit status 0 when valid, 2 when not (the daemons' configuration-error status), 1 when the file \
                cannot be read.
                """)

        @Argument(help: "hub, processor or query.") var daemon: DaemonKind
        @Argument(help: "The YAML configuration file.") var file: String
        @Flag(help: "Print one JSON document: {\"valid\", \"daemon\", \"file\", \"keys\" or \"error\"}.") var json = false

        func run() async throws {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue,
                  FileManager.default.isReadableFile(atPath: file) else {
                throw CtlFailure("cannot read \(file): not a readable file")
            }
            let arguments = ["telemetry-\(daemon.rawValue)", "--config", file]
            let keys: [ConfigKeyInfo]
            do {
                switch daemon {
                case .hub: keys = try await DaemonCommandLine.checkedKeys(arguments: arguments) { reader in try HubDaemon.readConfiguration(reader) }
                case .processor: keys = try await DaemonCommandLine.checkedKeys(arguments: arguments) { reader in try ProcessorDaemon.readConfiguration(reader) }
                case .query: keys = try await DaemonCommandLine.checkedKeys(arguments: arguments) { reader in try QueryDaemon.readConfiguration(reader) }
                }
            } catch {
                let message = "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
                if json {
                    print(try CtlJSON.text(["valid": false, "daemon": daemon.rawValue, "file": file, "error": message]))
                } else {
                    FileHandle.standardError.write(Data("telemetryctl: \(file): \(message)\n".utf8))
                }
                throw ExitCode(2)
            }
            func shown(_ key: ConfigKeyInfo) -> String { key.isSecret && !key.value.isEmpty ? "********" : key.value }
            if json {
                let values = Dictionary(keys.map { ($0.key, shown($0)) }, uniquingKeysWith: { first, _ in first })
                print(try CtlJSON.text(["valid": true, "daemon": daemon.rawValue, "file": file, "keys": values], pretty: true))
            } else {
                for key in keys { print("\(key.key) = \(shown(key).isEmpty ? "(none)" : shown(key))") }
                print("\(file): valid \(daemon.rawValue) configuration (\(keys.count) keys)")
            }
        }
    }
}
