import Foundation
import SystemSupport
import Hub
import Redis
import TelemetryCore

/// HTTP ingest: NDJSON bodies posted by curl clients to a release hub, counted when acknowledged
/// (202 means durable in Redis), against the ceiling of the request worker that parses them —
/// the same bodies parsed in this process on one thread.
struct HTTPBench {
    let servers: BenchServers
    let binDirectory: String

    struct Outcome: Sendable {
        var samples: Int
        var acknowledgedPerSecond: Double
        var parsePerSecond: Double
        var retries: Int
        var hubCPUCores: Double
    }

    func run(requests: Int, lines: Int, clients: Int) async throws -> Outcome {
        let servers = self.servers
        try await blocking { _ = try RedisConnection(endpoint: servers.redis).send(["FLUSHALL"]) }
        let workDir = "\(servers.runDirectory)/runs/http"
        try? FileManager.default.removeItem(atPath: workDir)
        try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
        let base = wallClockMicros() / 1000 - 3_600_000
        var files: [String] = []
        var bodies: [[UInt8]] = []
        for r in 0..<requests {
            var text = ""
            for l in 0..<lines {
                let i = r * lines + l
                text += #"{"device_id":"http_\#(i % 1000)","timestamp":\#(base + Int64(i)),"temperature":\#(Double(i % 500) / 10),"humidity":\#(i % 100)}"# + "\n"
            }
            let file = "\(workDir)/body-\(r).ndjson"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            files.append(file)
            bodies.append(Array(text.utf8))
        }
        // The project's retrying client (run from the repository, as `make bench` does).
        let script = FileManager.default.currentDirectoryPath + "/Deploy/dev/post-samples.sh"
        guard FileManager.default.isExecutableFile(atPath: script) else { throw BenchError("\(script) is missing; run the bench from the repository") }

        let port = try freeLoopbackPort()
        let hub = try Daemon.start(binary: "\(binDirectory)/telemetry-hub", name: "hub", config: """
            redis: { host: 127.0.0.1, port: \(servers.redisPort), key_prefix: bench_http }
            spool: { dir: \(workDir)/spool }
            simulated: { enabled: false }
            http: { port: \(port) }
            log: { level: warning }
            """, directory: workDir, environment: [:])
        defer { hub.kill() }
        let url = "http://127.0.0.1:\(port)/v1/samples"
        let deadline = ContinuousClock.now + .seconds(30)
        while try await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/ready"]).output != "200" {
            guard ContinuousClock.now < deadline, hub.isRunning else { throw BenchError("the hub did not become ready; see \(hub.logPath)") }
            try await Task.sleep(for: .milliseconds(100))
        }

        let cpuBefore = ProcStat.cpuSeconds(pid: hub.pid)
        let started = ContinuousClock.now
        // All clients are started before any is waited for: `blocking` runs one call at a time.
        let running = try (0..<clients).map { c in
            let mine = stride(from: c, to: files.count, by: clients).map { files[$0] }
            return try Client(tool: "/bin/bash", arguments: [script, url] + mine, log: "\(workDir)/client-\(c).log")
        }
        let outputs = try await blocking { running.map { $0.wait() } }
        let seconds = (ContinuousClock.now - started).totalSeconds
        let cpu = ProcStat.cpuSeconds(pid: hub.pid) - cpuBefore
        for (status, output) in outputs where status != 0 { throw BenchError("an HTTP client failed: \(output)") }
        try await hub.stop(timeout: 30)

        // The ceiling: the same bodies through the parser, on one thread like the request worker.
        let parse = try await blocking { [bodies] in
            let clock = ContinuousClock()
            var parsed = 0
            let elapsed = clock.measure { for body in bodies { parsed += SampleDocument.parse(body).readings.count } }
            guard parsed == requests * lines else { throw BenchError("the parser read \(parsed) of \(requests * lines) samples") }
            return Double(parsed) / elapsed.totalSeconds
        }
        let samples = requests * lines
        return Outcome(samples: samples, acknowledgedPerSecond: Double(samples) / seconds, parsePerSecond: parse,
                       retries: outputs.reduce(0) { $0 + $1.1.split(separator: "\n").filter { $0.hasPrefix("retry") }.count },
                       hubCPUCores: cpu / seconds)
    }

    private func run(_ tool: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.path + "/telemetry-bench-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let client = try Client(tool: tool, arguments: arguments, log: log)
        return try await blocking { client.wait() }
    }

    /// A client process started at once, its output in `log`; ``wait()`` blocks until it exits.
    /// It waits on a semaphore the process's termination handler signals: Foundation's
    /// `Process.waitUntilExit` spins its thread's run loop on Linux, a core taken from the
    /// daemons being measured.
    final class Client: @unchecked Sendable {
        // @unchecked: the process is started by the initialiser and then only waited for.
        private let process = Process()
        private let log: String
        private let exited = DispatchSemaphore(value: 0)

        init(tool: String, arguments: [String], log: String) throws {
            self.log = log
            guard FileManager.default.createFile(atPath: log, contents: nil),
                  let handle = FileHandle(forWritingAtPath: log) else { throw BenchError("cannot write \(log)") }
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = arguments
            process.standardOutput = handle
            process.standardError = handle
            let exited = self.exited
            process.terminationHandler = { _ in exited.signal() }
            try process.run()
        }

        /// Stops the process with SIGKILL (a child of a process started with SIGTERM blocked, such
        /// as a test runner, keeps it blocked) without waiting; ``wait()`` waits for it.
        func terminate() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }

        /// The exit status and everything the client printed (once).
        func wait() -> (status: Int32, output: String) {
            exited.wait()
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            return (process.terminationStatus, output)
        }
    }

    /// A free TCP port on loopback (bound, read, released).
    private func freeLoopbackPort() throws -> Int {
        do { return try LoopbackPort.free() } catch { throw BenchError("cannot find a free port: \(error)") }
    }
}
