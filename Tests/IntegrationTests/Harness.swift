import Foundation
import Postgres
import Redis
import Testing

/// Where the real servers started by `make test` (or `make services-test`) are.
enum TestServers {
    static let environment = ProcessInfo.processInfo.environment
    static let redisHost = environment["REDIS_HOST"] ?? "127.0.0.1"
    static let redisPort = Int(environment["REDIS_PORT"] ?? "") ?? 26379
    static let pgHost = environment["PGHOST"] ?? "127.0.0.1"
    static let pgPort = Int(environment["PGPORT"] ?? "") ?? 25432
    static let pgUser = environment["PGUSER"] ?? "telemetry"
    static let hint = "start them with `make services-test` (Redis on 127.0.0.1:26379, PostgreSQL on 127.0.0.1:25432) or run `make test`"

    static var redisEndpoint: RedisEndpoint { RedisEndpoint(host: redisHost, port: redisPort) }

    /// The repository's root directory.
    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    /// Directory of the built daemons.
    static var binDirectory: String {
        if let dir = environment["TELEMETRY_BIN_DIR"] { return dir }
        return root.appendingPathComponent(".build/debug").path
    }

    static var logDirectory: String {
        let dir = root.appendingPathComponent(".run/test/logs").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A plain Redis connection; fails the test with a hint when Redis is not there.
    static func redis() throws -> RedisConnection {
        do {
            return try RedisConnection(endpoint: redisEndpoint)
        } catch {
            throw HarnessError("Redis is not reachable at \(redisHost):\(redisPort) (\(error)); \(hint)")
        }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A database of its own for one test, created from the `telemetry` database.
struct TestDatabase {
    let name: String

    /// Waits up to 90 s for `expected` samples, lets anything extra (there must be none) arrive for
    /// 500 ms, then expects the count exact and `aggregates_1m` equal to a recount. Returns when the
    /// count was reached, for recovery times.
    @discardableResult
    func expectStoredOnce(_ expected: Int, _ context: @autoclosure () -> String,
                          sourceLocation: SourceLocation = #_sourceLocation) async throws -> ContinuousClock.Instant {
        let complete = try await eventually(timeout: .seconds(90)) { try scalar("SELECT count(*) FROM samples") >= expected }
        let reached = ContinuousClock.now
        #expect(complete, "\(context())", sourceLocation: sourceLocation)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try scalar("SELECT count(*) FROM samples") == expected, sourceLocation: sourceLocation)
        #expect(try aggregateMismatches() == 0, sourceLocation: sourceLocation)
        return reached
    }

    var conninfo: String { "host=\(TestServers.pgHost) port=\(TestServers.pgPort) user=\(TestServers.pgUser) dbname=\(name)" }

    static func create() throws -> TestDatabase {
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let admin: PostgresConnection
        do {
            admin = try PostgresConnection(conninfo: "host=\(TestServers.pgHost) port=\(TestServers.pgPort) user=\(TestServers.pgUser) dbname=telemetry")
        } catch {
            throw HarnessError("PostgreSQL is not reachable at \(TestServers.pgHost):\(TestServers.pgPort) (\(error)); \(TestServers.hint)")
        }
        try admin.execute("CREATE DATABASE \(name)")
        return TestDatabase(name: String(name))
    }

    func connect() throws -> PostgresConnection {
        let connection = try PostgresConnection(conninfo: conninfo)
        try connection.execute("SET timezone = 'UTC'")
        return connection
    }

    func scalar(_ sql: String) throws -> Int {
        let connection = try connect()
        return Int(try connection.execute(sql).rows.first?[0] ?? "") ?? -1
    }

    /// Rows where `aggregates_1m` differs from a recount of `samples` (count, min, max exactly,
    /// sum within 1e-9 relative), in either direction.
    func aggregateMismatches() throws -> Int {
        try scalar("""
            SELECT count(*) FROM (
                SELECT device_id, metric_id, date_trunc('minute', ts) AS bucket,
                       count(*) AS c, sum(value) AS s, min(value) AS lo, max(value) AS hi
                FROM samples GROUP BY 1, 2, 3) r
            FULL JOIN aggregates_1m a USING (device_id, metric_id, bucket)
            WHERE a.count IS DISTINCT FROM r.c OR a.min IS DISTINCT FROM r.lo OR a.max IS DISTINCT FROM r.hi
               OR r.s IS NULL OR a.sum IS NULL OR abs(a.sum - r.s) > 1e-9 * greatest(abs(r.s), 1e-9)
            """)
    }
}

/// A daemon started from the built binaries, its output in .run/test/logs.
final class Daemon {
    let name: String
    let process = Process()
    let logPath: String
    /// `$RUNTIME_DIRECTORY` of this daemon: its control socket lives there.
    let runtimeDirectory: String
    /// `hub.sock` or `processor.sock` in ``runtimeDirectory``.
    var controlSocket: String { "\(runtimeDirectory)/\(name.contains("hub") ? "hub" : "processor").sock" }

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
            if let range = log.range(of: "http_port=") {
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

/// sd_notify as systemd would see it: binds the `NOTIFY_SOCKET` datagram socket itself and
/// records every datagram (a line per assignment, with its arrival time and datagram number).
final class NotifyCapture {
    static let script = #"""
        import os, socket, sys, time
        path, out = sys.argv[1], sys.argv[2]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(60)
        n = 0
        with open(out, "w") as f:
            f.write("%d\t0\tLISTENING\n" % int(time.time() * 1000)); f.flush()
            try:
                while True:
                    data = sock.recv(65536).decode("utf-8", "replace")
                    n += 1
                    for line in data.split("\n"):
                        if line:
                            f.write("%d\t%d\t%s\n" % (int(time.time() * 1000), n, line)); f.flush()
            except socket.timeout:
                pass
        """#

    struct Message { let millis: Int64; let datagram: Int; let text: String }

    let directory: String
    var socketPath: String { "\(directory)/notify.sock" }
    private let listener = Process()

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.script.write(toFile: "\(directory)/capture.py", atomically: true, encoding: .utf8)
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        listener.arguments = ["\(directory)/capture.py", socketPath, "\(directory)/messages.txt"]
        try listener.run()
        guard try await eventually(timeout: .seconds(10), every: .milliseconds(20), { self.messages.contains { $0.text == "LISTENING" } }) else {
            throw HarnessError("the NOTIFY_SOCKET capture did not start")
        }
    }

    var messages: [Message] {
        ((try? String(contentsOfFile: "\(directory)/messages.txt", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\t", maxSplits: 2)
            guard parts.count == 3, let millis = Int64(parts[0]), let datagram = Int(parts[1]) else { return nil }
            return Message(millis: millis, datagram: datagram, text: String(parts[2]))
        }
    }

    static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    deinit { if listener.isRunning { kill(listener.processIdentifier, SIGKILL) } }
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

/// Settings shared by the daemons of one test: its own key prefix, database and consumer names.
struct Deployment {
    let prefix = "t" + UUID().uuidString.lowercased().prefix(8)
    let database: TestDatabase
    /// The hub's spool directory for this test.
    var spoolDirectory: String { "\(TestServers.logDirectory)/../spool-\(prefix)" }

    init() throws { database = try TestDatabase.create() }

    func processorEnvironment(consumer: String = "p1", extra: [String: String] = [:]) -> [String: String] {
        ["REDIS_KEY_PREFIX": prefix, "POSTGRES_URL": database.conninfo, "CONSUMER_NAME": consumer,
         "NUM_WORKERS": "4", "LOG_LEVEL": "info", "LEASE_TTL_MS": "2000", "LEASE_RENEW_MS": "300"].merging(extra) { $1 }
    }

    func hubEnvironment(sensors: Int, readings: Int, rate: Double, spikes: Double = 0, extra: [String: String] = [:]) -> [String: String] {
        ["REDIS_KEY_PREFIX": prefix, "SIMULATED_SENSORS": String(sensors), "SIMULATED_READINGS": String(readings),
         "SIMULATED_RATE_HZ": String(rate), "SIMULATED_SPIKE_PROBABILITY": String(spikes), "SIMULATED_DEVICE_PREFIX": "\(prefix)_sim",
         "INGEST_FLUSH_INTERVAL_MS": "20", "SPOOL_DIR": spoolDirectory, "BREAKER_PROBE_MS": "100",
         "BREAKER_MAX_PROBE_MS": "500"].merging(extra) { $1 }
    }

    /// Pending entries of the consumer group over every shard.
    func pendingEntries(shards: Int = 8) throws -> Int {
        let redis = try TestServers.redis()
        var total = 0
        for shard in 0..<shards {
            let reply = try redis.send(["XPENDING", "\(prefix):stream:\(shard)", "processors"])
            total += reply.array?.first?.int ?? 0
        }
        return total
    }
}

/// Runs a command-line tool from the build to completion; returns its exit status and output.
func runTool(_ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String] = [:]) async throws -> (Int32, String) {
    let process = Process()
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
    while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

extension Deployment {
    /// `telemetryctl` options for this deployment's Redis keys.
    var ctlOptions: [String] { ["--redis-port", String(TestServers.redisPort), "--key-prefix", prefix] }

    /// The dead letters: id and fields.
    func deadLetters() throws -> [(id: String, fields: [String: [UInt8]])] {
        let redis = try TestServers.redis()
        return (try redis.send(["XRANGE", "\(prefix):dlq", "-", "+"]).array ?? []).map { entry in
            let parts = entry.array ?? []
            var fields: [String: [UInt8]] = [:]
            let values = parts.count > 1 ? parts[1].array ?? [] : []
            var i = 0
            while i + 1 < values.count { fields[values[i].string ?? ""] = values[i + 1].bytes ?? []; i += 2 }
            return (parts.first?.string ?? "", fields)
        }
    }
}

/// A free TCP port on loopback (bound, read, released).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw HarnessError("cannot find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A redis-server of a test's own (for drills that stop it), with AOF in a directory of its own.
final class RedisServer {
    let port: Int
    let directory: String
    let durable: Bool
    private var process: Process?

    /// - Parameter durable: false runs Redis the way DESIGN §4 forbids (no AOF, LRU eviction).
    init(durable: Bool = true) throws {
        self.durable = durable
        port = try freePort()
        directory = "\(TestServers.logDirectory)/../redis-\(port)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try start()
    }

    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--dir", directory, "--appendonly", durable ? "yes" : "no",
                             "--appendfsync", "no", "--save", "", "--maxmemory-policy", durable ? "noeviction" : "allkeys-lru",
                             "--logfile", "\(directory)/redis.log"]
        try process.run()
        self.process = process
        for _ in 0..<100 {
            if (try? RedisConnection(endpoint: RedisEndpoint(port: port)).send(["PING"])) == .status("PONG") { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("redis-server on port \(port) did not start; see \(directory)/redis.log")
    }

    /// `SHUTDOWN` (Redis flushes its AOF) and wait. A command, not SIGTERM: children of the test
    /// runner inherit a signal mask that blocks SIGTERM.
    func stop() async {
        guard let process, process.isRunning else { return }
        _ = try? RedisConnection(endpoint: RedisEndpoint(port: port)).send(["SHUTDOWN"])
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    deinit { if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// A PostgreSQL server of a test's own (for drills that stop it), run as the postgres user.
final class PostgresServer {
    let port: Int
    let directory: String
    let binaries: String

    init() throws {
        port = try freePort()
        directory = "\(TestServers.logDirectory)/../pg-\(port)"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.sorted(by: { $0.compare($1, options: .numeric) == .orderedAscending }).last else {
            throw HarnessError("no PostgreSQL server binaries under /usr/lib/postgresql; \(TestServers.hint)")
        }
        binaries = "/usr/lib/postgresql/\(version)/bin"
        try FileManager.default.createDirectory(atPath: directory + "/sock", withIntermediateDirectories: true)
        try run("/bin/chown", ["-R", "postgres:postgres", directory])
        try run("/usr/sbin/runuser", ["-u", "postgres", "--", "\(binaries)/initdb", "-D", directory + "/data", "-U", "postgres",
                                      "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
        try start()
        try run("/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-q",
                                  "-c", "CREATE ROLE telemetry LOGIN CREATEDB", "-c", "CREATE DATABASE telemetry OWNER telemetry"])
    }

    var conninfo: String { "host=127.0.0.1 port=\(port) user=telemetry dbname=telemetry" }

    func start() throws {
        try run("/usr/sbin/runuser", ["-u", "postgres", "--", "\(binaries)/pg_ctl", "-D", directory + "/data", "-l", directory + "/postgres.log",
                                      "-w", "-t", "60", "-o", "-p \(port) -c listen_addresses=127.0.0.1 -k \(directory)/sock -c fsync=off", "start"])
    }

    func stop() throws {
        try run("/usr/sbin/runuser", ["-u", "postgres", "--", "\(binaries)/pg_ctl", "-D", directory + "/data", "-m", "fast", "-w", "stop"])
    }

    func scalar(_ sql: String) throws -> Int {
        let connection = try PostgresConnection(conninfo: conninfo)
        return Int(try connection.execute(sql).rows.first?[0] ?? "") ?? -1
    }

    /// Runs a tool to completion with `system(3)`, its output appended to tools.log. (Foundation's
    /// Process does not notice the exit of `runuser` whose grandchild, the server, lives on.)
    private func run(_ tool: String, _ arguments: [String]) throws {
        func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let logPath = directory + "/tools.log"
        let command = ([tool] + arguments).map(quote).joined(separator: " ") + " </dev/null >>\(quote(logPath)) 2>&1"
        let status = system(command)
        guard status == 0 else {
            throw HarnessError("\(tool) \(arguments.joined(separator: " ")) failed (\(status)); see \(logPath)")
        }
    }

    deinit { try? stop() }
}
