import Foundation
import Postgres
import Redis
import SystemSupport
import Testing

/// A free TCP port on loopback (bound, read, released).
func freePort() throws -> Int {
    do { return try LoopbackPort.free() } catch { throw HarnessError("cannot find a free port: \(error)") }
}

/// A redis-server of a test's own (for drills that stop it), with AOF in a directory of its own.
final class RedisServer {
    let port: Int
    let directory: String
    let durable: Bool
    /// Extra configuration directives (`--requirepass …`, `--user …`).
    let arguments: [String]
    /// The `default` user's password, when `arguments` set one (for the harness's own PING and SHUTDOWN).
    let password: String?
    private var process: Process?

    /// - Parameter durable: false runs Redis the way Docs/architecture.md forbids (no AOF, LRU eviction).
    init(durable: Bool = true, arguments: [String] = [], password: String? = nil) throws {
        self.durable = durable
        self.arguments = arguments
        self.password = password
        port = try freePort()
        directory = "\(TestServers.logDirectory)/../redis-\(port)"
        // A new server starts empty: an earlier test's server on the same port left its AOF and
        // cluster configuration here (a cluster node would then refuse to join a new cluster).
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try start()
    }

    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--dir", directory, "--appendonly", durable ? "yes" : "no",
                             "--appendfsync", "no", "--save", "", "--maxmemory-policy", durable ? "noeviction" : "allkeys-lru",
                             "--logfile", "\(directory)/redis.log"] + arguments
        try process.run()
        self.process = process
        for _ in 0..<100 {
            if (try? RedisConnection(endpoint: endpoint).send(["PING"])) == .status("PONG") { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("redis-server on port \(port) did not start; see \(directory)/redis.log")
    }

    /// `SHUTDOWN` (Redis flushes its AOF) and wait. A command, not SIGTERM: children of the test
    /// runner inherit a signal mask that blocks SIGTERM.
    func stop() async {
        guard let process, process.isRunning else { return }
        _ = try? RedisConnection(endpoint: endpoint).send(["SHUTDOWN"])
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// `kill -9`, and waits until it is gone (blocking: call through ``onThread(_:)``).
    func killHard() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<200 where process.isRunning { Thread.sleep(forTimeInterval: 0.025) }
    }

    /// The server, with the `default` user's password when it has one.
    var endpoint: RedisEndpoint { RedisEndpoint(port: port, password: password) }

    deinit { if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// A PostgreSQL server of a test's own (for drills that stop it), run as the postgres user.
final class PostgresServer: Sendable {
    let port: Int
    let directory: String
    let binaries: String
    /// Server settings added at every start (`-c name=value …`).
    let options: String

    init(options: String = "") throws {
        self.options = options
        (port, directory, binaries) = try Self.prepare()
        try run("/usr/sbin/runuser", ["-u", "postgres", "--", "\(binaries)/initdb", "-D", directory + "/data", "-U", "postgres",
                                      "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
        try start()
        try run("/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-q",
                                  "-c", "CREATE ROLE telemetry LOGIN CREATEDB", "-c", "CREATE DATABASE telemetry OWNER telemetry",
                                  "-c", "CREATE ROLE telemetry_reader NOLOGIN", "-c", "CREATE ROLE telemetry_query LOGIN IN ROLE telemetry_reader",
                                  "-c", "GRANT pg_read_all_stats TO telemetry_reader"])
    }

    /// A streaming standby of `primary` (`pg_basebackup -R`, asynchronous), started.
    init(standbyOf primary: PostgresServer) throws {
        options = primary.options
        (port, directory, binaries) = try Self.prepare()
        try run("/usr/sbin/runuser", ["-u", "postgres", "--", "\(binaries)/pg_basebackup", "-h", "127.0.0.1", "-p", String(primary.port),
                                      "-U", "postgres", "-D", directory + "/data", "-R", "-X", "stream", "-c", "fast"])
        try start()
    }

    /// A free port, a directory of its own owned by postgres, and the newest server binaries.
    private static func prepare() throws -> (Int, String, String) {
        let port = try freePort()
        let directory = "\(TestServers.logDirectory)/../pg-\(port)"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.sorted(by: { $0.compare($1, options: .numeric) == .orderedAscending }).last else {
            throw HarnessError("no PostgreSQL server binaries under /usr/lib/postgresql; \(TestServers.hint)")
        }
        try FileManager.default.createDirectory(atPath: directory + "/sock", withIntermediateDirectories: true)
        guard system("/bin/chown -R postgres:postgres '\(directory)'") == 0 else { throw HarnessError("cannot chown \(directory)") }
        return (port, directory, "/usr/lib/postgresql/\(version)/bin")
    }

    var conninfo: String { "host=127.0.0.1 port=\(port) user=telemetry dbname=telemetry" }

    /// `pg_ctl promote`, waiting until the server accepts writes.
    func promote() throws {
        try run("/usr/sbin/runuser", ["-u", "postgres", "--", "\(binaries)/pg_ctl", "-D", directory + "/data", "-w", "-t", "60", "promote"])
    }

    /// The postmaster's process id (first line of postmaster.pid).
    func postmasterPID() throws -> pid_t {
        let text = try String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8)
        guard let pid = text.split(separator: "\n").first.flatMap({ pid_t($0) }) else { throw HarnessError("no pid in \(directory)/data/postmaster.pid") }
        return pid
    }

    /// `kill -9` of the whole server: the postmaster is stopped first (so it restarts nothing),
    /// then every child and the postmaster are killed; nothing commits after this returns.
    func kill9() throws {
        let postmaster = try postmasterPID()
        kill(postmaster, SIGSTOP)
        let children = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in children {
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 2, pid_t(fields[1]) == postmaster { kill(pid, SIGKILL) }
        }
        kill(postmaster, SIGKILL)
        try? FileManager.default.removeItem(atPath: directory + "/data/postmaster.pid")
    }

    func start() throws {
        try run("/usr/sbin/runuser", ["-u", "postgres", "--", "\(binaries)/pg_ctl", "-D", directory + "/data", "-l", directory + "/postgres.log",
                                      "-w", "-t", "60", "-o", "-p \(port) -c listen_addresses=127.0.0.1 -k \(directory)/sock -c fsync=off \(options)", "start"])
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
