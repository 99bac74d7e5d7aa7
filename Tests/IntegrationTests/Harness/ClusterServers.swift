import Foundation
import Redis

/// A Redis Cluster of a test's own: six redis-server nodes on loopback ports, made three masters
/// with a replica each by `redis-cli --cluster create`. Its methods block: call them through
/// ``onThread(_:)``.
final class ClusterServers: @unchecked Sendable {
    let nodes: [RedisServer]
    let directory: String

    init() throws {
        nodes = try (0..<6).map { _ in
            // The bus port is chosen too: the default (port + 10 000) fails above 55 535.
            try RedisServer(arguments: ["--cluster-enabled", "yes", "--cluster-node-timeout", "1500", "--cluster-config-file", "nodes.conf",
                                        "--cluster-port", String(try freePort())])
        }
        directory = nodes[0].directory
        try redisCLI(["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "1", "--cluster-yes"])
        guard waitUntil(seconds: 30, { self.nodes.allSatisfy { self.info($0.port)["cluster_state"] == "ok" } && self.masters().count == 3 }) else {
            throw HarnessError("the redis cluster did not reach cluster_state:ok with three masters within 30 s; see \(directory)/redis.log and its neighbours")
        }
        // Every node knows every other (the replicas' roles included) before a drill starts.
        guard waitUntil(seconds: 30, { self.nodes.allSatisfy { (self.info($0.port)["cluster_known_nodes"] ?? "") == "6" } }) else {
            throw HarnessError("the cluster's nodes did not all meet within 30 s")
        }
    }

    /// `REDIS_CLUSTER_NODES` for a daemon (two seeds).
    var environment: [String: String] {
        ["REDIS_CLUSTER_NODES": nodes.prefix(2).map { "127.0.0.1:\($0.port)" }.joined(separator: ",")]
    }

    var endpoint: RedisEndpoint {
        RedisEndpoint(cluster: ClusterSettings(seeds: nodes.prefix(3).map { HostPort(host: "127.0.0.1", port: $0.port) }))
    }

    /// `CLUSTER INFO` of one node as fields.
    func info(_ port: Int) -> [String: String] { fields(port, ["CLUSTER", "INFO"]) }

    /// `INFO replication` of one node as fields.
    func replication(_ port: Int) -> [String: String] { fields(port, ["INFO", "replication"]) }

    /// A `name:value` per line reply of one node as fields.
    private func fields(_ port: Int, _ command: RedisCommand) -> [String: String] {
        guard let text = try? RedisConnection(endpoint: RedisEndpoint(port: port, timeout: .seconds(1))).send(command).string else { return [:] }
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }

    /// One line of `CLUSTER NODES`: id, port, whether a master, its master's id, its slot ranges.
    struct NodeLine {
        var id: String
        var port: Int
        var master: Bool
        var masterID: String?
        var slots: [ClosedRange<Int>]
    }

    /// The cluster as one node sees it.
    func topology() -> [NodeLine] {
        for node in nodes {
            guard let text = try? RedisConnection(endpoint: RedisEndpoint(port: node.port, timeout: .seconds(1))).send(["CLUSTER", "NODES"]).string
            else { continue }
            return text.split(whereSeparator: \.isNewline).compactMap { line in
                let fields = line.split(separator: " ").map(String.init)
                guard fields.count >= 8, let port = fields[1].split(separator: "@").first?.split(separator: ":").last.flatMap({ Int($0) }) else { return nil }
                let flags = fields[2].split(separator: ",")
                guard !flags.contains("fail") else { return nil }
                let slots = fields.dropFirst(8).compactMap { range -> ClosedRange<Int>? in
                    guard !range.hasPrefix("[") else { return nil }  // a slot being migrated
                    let ends = range.split(separator: "-").compactMap { Int($0) }
                    return ends.count == 2 ? ends[0]...ends[1] : ends.first.map { $0...$0 }
                }
                return NodeLine(id: fields[0], port: port, master: flags.contains("master"), masterID: fields[3] == "-" ? nil : fields[3], slots: slots)
            }
        }
        return []
    }

    func masters() -> [NodeLine] { topology().filter { $0.master && !$0.slots.isEmpty }.sorted { $0.slots[0].lowerBound < $1.slots[0].lowerBound } }

    /// The master serving `slot`.
    func master(of slot: Int) -> NodeLine? { masters().first { $0.slots.contains { $0.contains(slot) } } }

    /// `redis-cli --cluster reshard`: moves the `count` lowest slots of the master serving
    /// `slot` (so `slot` among them when `count` goes past it) to the master `to` (an index into
    /// ``masters()``), with the keys they hold. Returns how long it took.
    func reshard(through slot: Int, to target: Int) throws -> Duration {
        guard let source = master(of: slot) else { throw HarnessError("no master serves slot \(slot)") }
        let destination = masters()[target]
        guard destination.id != source.id else { throw HarnessError("slot \(slot) is already on that master") }
        let count = slot - source.slots[0].lowerBound + 1
        let started = ContinuousClock.now
        try redisCLI(["--cluster", "reshard", "127.0.0.1:\(source.port)", "--cluster-from", source.id, "--cluster-to", destination.id,
                      "--cluster-slots", String(count), "--cluster-yes", "--cluster-pipeline", "100"])
        guard waitUntil(seconds: 20, { self.master(of: slot)?.id == destination.id }) else {
            throw HarnessError("slot \(slot) did not move to \(destination.port)")
        }
        return ContinuousClock.now - started
    }

    /// `kill -9` of the master serving `slot`: returns once its replica serves the slot (after
    /// `cluster-node-timeout`), with how long that took; the killed node is started again and
    /// waited for as the new master's replica, so writes can be confirmed by a replica again.
    func killMaster(of slot: Int) throws -> Duration {
        guard let master = master(of: slot), let node = nodes.first(where: { $0.port == master.port }) else {
            throw HarnessError("no master serves slot \(slot)")
        }
        let started = ContinuousClock.now
        node.killHard()
        guard waitUntil(seconds: 30, { (self.master(of: slot)?.port).map { $0 != master.port } ?? false }) else {
            throw HarnessError("no replica took over slot \(slot) within 30 s of killing its master on \(master.port)")
        }
        let took = ContinuousClock.now - started
        try node.start()
        guard waitUntil(seconds: 30, {
            self.topology().contains { $0.port == master.port && !$0.master }
                && self.nodes.allSatisfy { self.info($0.port)["cluster_state"] == "ok" }
                && (self.master(of: slot).flatMap { self.replication($0.port)["connected_slaves"] } ?? "0") != "0"
        }) else {
            throw HarnessError("the killed master on \(master.port) did not come back as a replica within 30 s")
        }
        return took
    }

    /// `CLUSTER FAILOVER` on the replica of the master serving `slot` (a coordinated, manual
    /// failover: the replica catches up first); returns when it serves the slot, and how long it took.
    func failover(of slot: Int) throws -> Duration {
        guard let master = master(of: slot), let replica = topology().first(where: { $0.masterID == master.id }) else {
            throw HarnessError("no replica of the master serving slot \(slot)")
        }
        let started = ContinuousClock.now
        let reply = try RedisConnection(endpoint: RedisEndpoint(port: replica.port, timeout: .seconds(5))).send(["CLUSTER", "FAILOVER"])
        if case .error(let message) = reply { throw HarnessError("CLUSTER FAILOVER on \(replica.port): \(message)") }
        guard waitUntil(seconds: 30, { self.master(of: slot)?.port == replica.port }) else {
            throw HarnessError("the replica on \(replica.port) did not take over slot \(slot) within 30 s")
        }
        return ContinuousClock.now - started
    }

    private func redisCLI(_ arguments: [String]) throws {
        let log = "\(directory)/redis-cli.log"
        let command = (["/usr/bin/redis-cli"] + arguments).map { "'\($0)'" }.joined(separator: " ") + " </dev/null >>'\(log)' 2>&1"
        guard system(command) == 0 else { throw HarnessError("redis-cli \(arguments.prefix(2).joined(separator: " ")) failed; see \(log)") }
    }
}
