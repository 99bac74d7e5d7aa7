import Foundation
import Redis
import Testing

/// Runs blocking work (hiredis calls, sleeps, waiting for a process) on a thread of its own, so a
/// drill never holds one of the cooperative pool's threads (two on these machines) while the
/// load it measures needs them.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A Redis master with two replicas and three Sentinels (quorum 2) of a test's own, on loopback
/// ports, for failover drills. Debian's `redis-sentinel` runs the Sentinels (`make test` installs
/// it; `redis-server --sentinel` where it is missing). Its methods block: call them through
/// ``onThread(_:)``.
final class SentinelServers: @unchecked Sendable {
    static let masterName = "drill"
    /// The data nodes; `nodes[0]` starts as the master.
    private(set) var nodes: [Node]
    /// The Sentinels' ports.
    let sentinelPorts: [Int]
    private var sentinels: [Process] = []
    let directory: String
    /// The Sentinels' `requirepass`, when they have one.
    let sentinelPassword: String?

    /// One redis-server (master or replica) and how to start it again.
    final class Node {
        let port: Int
        let directory: String
        var process: Process?
        init(port: Int, directory: String) {
            self.port = port
            self.directory = directory
        }
    }

    init(sentinelPassword: String? = nil) throws {
        self.sentinelPassword = sentinelPassword
        let directory = "\(TestServers.logDirectory)/../sentinel-\(UUID().uuidString.prefix(8))"
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var nodes: [Node] = []
        for _ in 0..<3 {
            let port = try freePort()
            let node = Node(port: port, directory: "\(directory)/node-\(port)")
            try FileManager.default.createDirectory(atPath: node.directory, withIntermediateDirectories: true)
            nodes.append(node)
        }
        self.nodes = nodes
        sentinelPorts = try (0..<3).map { _ in try freePort() }
        try start(nodes[0], replicaOf: nil)
        for node in nodes.dropFirst() { try start(node, replicaOf: nodes[0].port) }
        for port in sentinelPorts { try startSentinel(port) }
        // Every Sentinel sees the master and both replicas before a drill may kill anything.
        let ready = waitUntil(seconds: 20) {
            self.sentinelPorts.allSatisfy { port in
                guard let reply = try? RedisConnection(endpoint: sentinelEndpoint(port))
                    .send(["SENTINEL", "replicas", Self.masterName]) else { return false }
                return (reply.array?.count ?? 0) == 2
            } && self.sentinelPorts.allSatisfy { port in
                (try? RedisConnection(endpoint: sentinelEndpoint(port))
                    .send(["SENTINEL", "sentinels", Self.masterName]))?.array?.count == 2
            }
        }
        guard ready else { throw HarnessError("the Sentinels did not see the master, its replicas and each other within 20 s; see \(directory)") }
    }

    /// One Sentinel, with its password.
    func sentinelEndpoint(_ port: Int) -> RedisEndpoint {
        RedisEndpoint(port: port, timeout: .seconds(1), password: sentinelPassword)
    }

    /// `REDIS_SENTINELS`, `REDIS_MASTER_NAME` for a daemon.
    var environment: [String: String] {
        ["REDIS_SENTINELS": sentinelPorts.map { "127.0.0.1:\($0)" }.joined(separator: ","), "REDIS_MASTER_NAME": Self.masterName]
    }

    /// The master's port as the Sentinels report it (the first that answers).
    func masterPort() -> Int? {
        for port in sentinelPorts {
            if let reply = try? RedisConnection(endpoint: sentinelEndpoint(port))
                .send(["SENTINEL", "get-master-addr-by-name", Self.masterName]),
               let address = SentinelProtocol.masterAddress(reply) { return address.port }
        }
        return nil
    }

    /// `kill -9` of the current master; waits until the Sentinels name another one whose ROLE is
    /// master, then starts the killed node again as it was (a master with its old data, as a
    /// restarted host comes back; the Sentinels make it a replica). Returns how long the
    /// failover took.
    @discardableResult
    func killMaster() throws -> Duration {
        // Not while a Sentinel still finishes the last failover (reconfiguring replicas): it
        // would go on naming the old master for a while, and a second failover would wait for it.
        _ = waitUntil(seconds: 15) { self.settled() }
        guard let port = masterPort(), let node = nodes.first(where: { $0.port == port }), let process = node.process else {
            throw HarnessError("no master to kill")
        }
        let started = ContinuousClock.now
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // Failed over once any Sentinel names another node that says it is the master (as the
        // daemons' resolver finds it, asking each in turn).
        let moved = waitUntil(seconds: 30) {
            self.sentinelPorts.contains { sentinel in
                guard let reply = try? RedisConnection(endpoint: self.sentinelEndpoint(sentinel)).send(["SENTINEL", "get-master-addr-by-name", Self.masterName]),
                      let now = SentinelProtocol.masterAddress(reply)?.port, now != port,
                      let role = try? RedisConnection(endpoint: RedisEndpoint(port: now, timeout: .seconds(1))).send(["ROLE"]) else { return false }
                return SentinelProtocol.isMaster(role)
            }
        }
        guard moved else { throw HarnessError("the Sentinels did not fail over within 30 s; see \(directory)") }
        let took = ContinuousClock.now - started
        // Back with its old configuration (a master), as a restarted server is, but only once
        // every Sentinel names the new master: earlier, a Sentinel still electing could take the
        // returning node for the master and start a second failover.
        _ = waitUntil(seconds: 10) {
            let named = Set(self.sentinelPorts.map { port in
                (try? RedisConnection(endpoint: sentinelEndpoint(port)).send(["SENTINEL", "get-master-addr-by-name", Self.masterName]))
                    .flatMap(SentinelProtocol.masterAddress)?.port
            })
            return named.count == 1 && named.first != port && named.first != nil
        }
        try start(node, replicaOf: nil)
        return took
    }

    /// Whether every Sentinel names the same master and none is in a failover.
    func settled() -> Bool {
        var named = Set<Int?>()
        for port in sentinelPorts {
            guard let connection = try? RedisConnection(endpoint: sentinelEndpoint(port)),
                  let master = try? connection.send(["SENTINEL", "master", Self.masterName]).array else { return false }
            let fields = stride(from: 0, to: master.count - 1, by: 2).reduce(into: [String: String]()) { $0[master[$1].string ?? ""] = master[$1 + 1].string }
            if fields["flags"]?.contains("failover") ?? true { return false }
            named.insert(fields["port"].flatMap { Int($0) })
        }
        return named.count == 1 && named.first != nil
    }

    /// The drill of a master cut off from its replicas while clients still reach it: the replicas
    /// are stopped (SIGSTOP) for `isolated`, the master then stops (SIGSTOP) while they resume,
    /// the Sentinels promote one of them, and the old master is killed and started again as a
    /// replica (what it took alone is gone). Returns how long the failover took.
    @discardableResult
    func isolateMaster(for isolated: Duration) throws -> Duration {
        guard let port = masterPort(), let master = nodes.first(where: { $0.port == port }), let process = master.process else {
            throw HarnessError("no master to isolate")
        }
        let replicas = nodes.filter { $0.port != port }.compactMap(\.process)
        for replica in replicas { kill(replica.processIdentifier, SIGSTOP) }
        Thread.sleep(forTimeInterval: Double(isolated.components.seconds) + Double(isolated.components.attoseconds) / 1e18)
        let started = ContinuousClock.now
        kill(process.processIdentifier, SIGSTOP)
        for replica in replicas { kill(replica.processIdentifier, SIGCONT) }
        let moved = waitUntil(seconds: 40) {
            guard let now = self.masterPort(), now != port,
                  let role = try? RedisConnection(endpoint: RedisEndpoint(port: now, timeout: .seconds(1))).send(["ROLE"]) else { return false }
            return SentinelProtocol.isMaster(role)
        }
        kill(process.processIdentifier, SIGKILL)
        kill(process.processIdentifier, SIGCONT)
        process.waitUntilExit()
        guard moved else { throw HarnessError("the Sentinels did not fail over within 40 s; see \(directory)") }
        let took = ContinuousClock.now - started
        // Its AOF holds what only it took: gone in the new history, as after a real partition.
        try? FileManager.default.removeItem(atPath: master.directory)
        try FileManager.default.createDirectory(atPath: master.directory, withIntermediateDirectories: true)
        try start(master, replicaOf: masterPort())
        return took
    }

    private func start(_ node: Node, replicaOf master: Int?) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = ["--port", String(node.port), "--bind", "127.0.0.1", "--dir", node.directory, "--appendonly", "yes",
                             "--appendfsync", "everysec", "--save", "", "--maxmemory-policy", "noeviction",
                             "--logfile", "\(node.directory)/redis.log"] + (master.map { ["--replicaof", "127.0.0.1", String($0)] } ?? [])
        try process.run()
        node.process = process
        guard waitUntil(seconds: 10, { (try? RedisConnection(endpoint: RedisEndpoint(port: node.port, timeout: .seconds(1))).send(["PING"])) == .status("PONG") }) else {
            throw HarnessError("redis-server on port \(node.port) did not start; see \(node.directory)/redis.log")
        }
    }

    private func startSentinel(_ port: Int) throws {
        let config = "\(directory)/sentinel-\(port).conf"
        try """
            port \(port)
            bind 127.0.0.1
            dir \(directory)
            logfile \(directory)/sentinel-\(port).log
            sentinel monitor \(Self.masterName) 127.0.0.1 \(nodes[0].port) 2
            sentinel down-after-milliseconds \(Self.masterName) 1000
            sentinel failover-timeout \(Self.masterName) 4000
            sentinel parallel-syncs \(Self.masterName) 1
            \(sentinelPassword.map { "requirepass \($0)" } ?? "")

            """.write(toFile: config, atomically: true, encoding: .utf8)
        let process = Process()
        let debian = FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-sentinel")
        process.executableURL = URL(fileURLWithPath: debian ? "/usr/bin/redis-sentinel" : "/usr/bin/redis-server")
        process.arguments = debian ? [config] : [config, "--sentinel"]
        try process.run()
        sentinels.append(process)
    }


    deinit {
        for process in sentinels + nodes.compactMap(\.process) where process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Polls `condition` every 100 ms on the calling thread (a harness thread, never the cooperative
/// pool) until it holds or `seconds` pass; returns whether it held.
func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.1)
    }
    return false
}
