import Foundation
import Postgres
import Redis
import Testing

/// A daemon started from the built binaries, its output in .run/test/logs.
final class Daemon {
    let name: String
    let process = Process()
    let logPath: String
    /// `$RUNTIME_DIRECTORY` of this daemon: its control socket lives there.
    let runtimeDirectory: String
    /// `hub.sock`, `processor.sock` or `query.sock` in ``runtimeDirectory``.
    var controlSocket: String { "\(runtimeDirectory)/\(name.contains("hub") ? "hub" : name.contains("query") ? "query" : "processor").sock" }

    init(_ executable: String, name: String, environment: [String: String], arguments: [String] = []) throws {
        self.name = name
        let path = "\(TestServers.binDirectory)/\(executable)"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError("\(path) is not built; run `swift build` (make test does)")
        }
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["REDIS_HOST"] = TestServers.redisHost
        env["REDIS_PORT"] = String(TestServers.redisPort)
        env["HTTP_PORT"] = "0"  // any free port; read it back with httpPort()
        runtimeDirectory = "\(TestServers.logDirectory)/../rt/\(name)-\(UUID().uuidString.prefix(6))"
        env["RUNTIME_DIRECTORY"] = runtimeDirectory
        for (key, value) in environment { env[key] = value }
        process.environment = env
        logPath = "\(TestServers.logDirectory)/\(name).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    /// The HTTP port the daemon logged once listening.
    func httpPort(timeout: Duration = .seconds(30)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            // A text line (`http_port=8080`) or a JSON one (`"http_port":"8080"`).
            if let range = log.range(of: "http_port=") ?? log.range(of: "\"http_port\":\"") {
                let digits = log[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits) { return port }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("\(name) did not report its HTTP port:\n\(tail)")
    }

    /// `GET path` on the daemon's HTTP port with curl: (status, body).
    func get(_ path: String) async throws -> (Int, String) {
        let port = try await httpPort()
        let (_, output) = try await runTool("/usr/bin/curl", ["-s", "-m", "10", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"])
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    /// Sends `signal` and waits for the exit; returns the exit status (nil on timeout).
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(30)) async -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, signal)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            return nil
        }
        return process.terminationStatus
    }

    /// The last lines of the daemon's output, for failure messages.
    var tail: String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// Runs a command-line tool from the build to completion; returns its exit status and output.
func runTool(_ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String] = [:],
             directory: String? = nil) async throws -> (Int32, String) {
    let process = Process()
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "\(TestServers.binDirectory)/\(executable)")
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    let stdin = Pipe()
    process.standardInput = stdin
    try process.run()
    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
    try stdin.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    // Closed here: Foundation's Process keeps its pipes (and their descriptors) alive after the
    // child exits, so a test that runs thousands of tools would run out of descriptors.
    try? output.fileHandleForReading.close()
    while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(60), every interval: Duration = .milliseconds(200),
                _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        // Errors before the deadline (a table not created yet) count as "not yet".
        if (try? await condition()) == true { return true }
        try await Task.sleep(for: interval)
    }
    return try await condition()
}
