import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The slot map of one cluster, shared by every connection of the process with the same
/// settings and credentials: a `MOVED` seen by one connection moves the slot for all of them.
final class ClusterTopology: Sendable {
    private struct Key: Hashable {
        var settings: ClusterSettings
        var username: String?
        var password: String?
    }

    private struct State {
        var map: SlotMap?
        /// A redirection or a lost node made the map doubtful: asked again at the next call.
        var stale = false
    }

    private static let registry = Mutex<[Key: ClusterTopology]>([:])

    /// The topology shared by every endpoint with the same cluster settings and credentials.
    static func shared(for endpoint: RedisEndpoint) -> ClusterTopology? {
        guard let settings = endpoint.cluster else { return nil }
        let key = Key(settings: settings, username: endpoint.username, password: endpoint.password)
        return registry.withLock { registry in
            if let known = registry[key] { return known }
            let topology = ClusterTopology(settings: settings, username: endpoint.username, password: endpoint.password)
            registry[key] = topology
            return topology
        }
    }

    let settings: ClusterSettings
    let username: String?
    let password: String?
    private let state = Mutex(State())
    /// Held while the map is being asked for (one thread asks; the others wait and use its answer).
    private let refreshing = Mutex<ContinuousClock.Instant?>(nil)

    init(settings: ClusterSettings, username: String?, password: String?) {
        self.settings = settings
        self.username = username
        self.password = password
    }

    /// An endpoint for one node, with the cluster's credentials.
    func endpoint(_ node: HostPort, timeout: Duration) -> RedisEndpoint {
        RedisEndpoint(host: node.host, port: node.port, timeout: timeout, username: username, password: password)
    }

    /// The current map, asked for when there is none or it is in doubt.
    func map() throws(RedisError) -> SlotMap {
        let (map, stale) = state.withLock { ($0.map, $0.stale) }
        if let map, !stale { return map }
        return try refresh(fallback: map)
    }

    /// Asks the known masters, then the seeds, for `CLUSTER SHARDS` (`CLUSTER SLOTS` before Redis
    /// 7), 500 ms each. At most one refresh per 100 ms: callers that waited for one use its answer.
    func refresh(fallback: SlotMap? = nil) throws(RedisError) -> SlotMap {
        try refreshing.withLock { (last: inout ContinuousClock.Instant?) throws(RedisError) -> SlotMap in
            // Asked within the last 100 ms (by a caller this one waited behind): that answer stands.
            // Stale or not, the map with the redirections seen since is the best known until then.
            if let last, ContinuousClock.now - last < .milliseconds(100) {
                if let map = state.withLock({ $0.map }) { return map }
                throw RedisError(.connectionFailed, "no node of the redis cluster answered with its slot map (asked less than 100 ms ago)")
            }
            defer { last = .now }
            var candidates = (fallback?.masters ?? []) + settings.seeds
            var seen = Set<HostPort>()
            candidates = candidates.filter { seen.insert($0).inserted }
            var problems: [String] = []
            for node in candidates {
                do throws(RedisError) {
                    let connection = try RedisConnection(endpoint: endpoint(node, timeout: .milliseconds(500)))
                    defer { connection.close() }
                    var reply = try connection.send(["CLUSTER", "SHARDS"])
                    var map: SlotMap?
                    if case .error = reply {
                        reply = try connection.send(["CLUSTER", "SLOTS"])
                        map = ClusterProtocol.slotMap(slots: reply, asked: node)
                    } else {
                        map = ClusterProtocol.slotMap(shards: reply, asked: node)
                    }
                    if case .error(let message) = reply {
                        problems.append("\(node): \(message)")
                        continue
                    }
                    guard let map, !map.masters.isEmpty else {
                        problems.append("\(node): no slot map in the reply")
                        continue
                    }
                    state.withLock { $0 = State(map: map, stale: false) }
                    return map
                } catch {
                    problems.append("\(node): \(error.message)")
                }
            }
            throw RedisError(.connectionFailed, "no node of the redis cluster answered with its slot map (\(problems.joined(separator: "; ")))")
        }
    }

    /// A `MOVED` reply: the slot lives at `node` now (and the rest of the map is in doubt).
    func moved(_ redirect: ClusterRedirect) {
        state.withLock { state in
            state.map?.assign(redirect.slot...redirect.slot, to: redirect.node)
            state.stale = true
        }
    }

    /// A node was lost or the cluster said it is down: the map is asked for again at the next call.
    func invalidate() {
        state.withLock { $0.stale = true }
    }
}

/// Sends commands to a Redis Cluster as if it were one server: each command goes to the master
/// of its key's slot, a pipeline is split per master (replies in the original order), commands
/// over keys of several slots (`MGET`, `DEL`, `XREADGROUP … STREAMS`) are split per slot and
/// their replies joined, `WAIT` goes to every master the pipeline wrote to (the least count answers),
/// `SCRIPT` and `FLUSHALL` go to every master, and `MOVED`, `ASK` and `TRYAGAIN` are followed. Used by ``RedisConnection`` for an endpoint
/// with ``RedisEndpoint/cluster`` set; blocking, like it.
final class ClusterRouter {
    let topology: ClusterTopology
    let timeout: Duration
    private var nodes: [HostPort: RedisConnection] = [:]
    private var closed = false
    /// Redirections followed per command before giving up.
    static let maxRedirects = 5

    init(endpoint: RedisEndpoint) throws(RedisError) {
        guard let topology = ClusterTopology.shared(for: endpoint) else { throw RedisError(.connectionFailed, "no cluster settings") }
        self.topology = topology
        timeout = endpoint.timeout
        // Connected once the map is known and its first master answers.
        let map = try topology.map()
        _ = try connection(to: map.masters[0])
    }

    var isUsable: Bool { !closed }

    /// The first master of the map: where commands without a key go.
    var entry: HostPort { (try? topology.map().masters.first) ?? topology.settings.seeds.first ?? HostPort(host: "", port: 0) }

    func close() {
        for connection in nodes.values { connection.close() }
        nodes = [:]
        closed = true
    }

    private func connection(to node: HostPort) throws(RedisError) -> RedisConnection {
        if let known = nodes[node], known.isUsable { return known }
        do {
            let fresh = try RedisConnection(endpoint: topology.endpoint(node, timeout: timeout))
            nodes[node] = fresh
            return fresh
        } catch {
            nodes[node] = nil
            topology.invalidate()
            throw error
        }
    }

    /// One command as sent to one node, and where its reply goes.
    private struct Part {
        var node: HostPort
        var command: RedisCommand
        var original: Int
    }

    /// How the replies of a command's parts make its reply.
    private enum Join {
        case single
        /// `MGET` split: each part's values go back to these positions.
        case positions([[Int]], total: Int)
        /// `DEL`, `UNLINK`, `EXISTS`, `TOUCH` split: the counts add up.
        case sum
        /// `XREADGROUP` split: the streams' arrays are concatenated (nil when all are nil);
        /// waits up to this long (the command's `BLOCK`, at most 100 ms) when nothing came.
        case streams(block: Duration?)
        /// `WAIT` on several masters: the least count.
        case least
    }

    func pipeline(_ commands: [RedisCommand]) throws(RedisError) -> [RESPValue] {
        guard !closed else { throw RedisError(.connectionLost, "cluster connection is closed") }
        let map = try topology.map()
        let first = map.masters[0]
        if commands.contains(where: { ClusterProtocol.name(of: $0) == "MULTI" }) {
            // A transaction runs on one master, over keys of one slot.
            let slots = Set(commands.compactMap { ClusterProtocol.slot(of: $0) })
            guard slots.count <= 1 else {
                throw RedisError(.server, "CROSSSLOT a MULTI/EXEC block over keys of \(slots.count) hash slots cannot run on a redis cluster")
            }
            guard let node = slots.first.map({ map.master(of: $0) }) ?? first else {
                topology.invalidate()
                throw RedisError(.server, "CLUSTERDOWN the hash slot of the transaction is not served")
            }
            return try transaction(commands, at: node)
        }
        var parts: [Part] = []
        var joins: [Join] = []
        var written: [HostPort] = []
        func node(_ slot: Int) throws(RedisError) -> HostPort {
            guard let master = map.master(of: slot) else {
                topology.invalidate()
                throw RedisError(.server, "CLUSTERDOWN hash slot \(slot) is not served by any master of the redis cluster")
            }
            return master
        }
        func add(_ node: HostPort, _ command: RedisCommand, _ original: Int) {
            parts.append(Part(node: node, command: command, original: original))
            if !written.contains(node) { written.append(node) }
        }
        for (index, command) in commands.enumerated() {
            let name = ClusterProtocol.name(of: command)
            switch ClusterProtocol.keys(of: command) {
            case .none where name == "WAIT":
                for target in written.isEmpty ? [first] : written {
                    parts.append(Part(node: target, command: command, original: index))
                }
                joins.append(written.count > 1 ? .least : .single)
            case .none where ["SCRIPT", "FLUSHALL", "FLUSHDB"].contains(name):
                // Every master needs the script (an EVALSHA may go to any of them).
                for target in map.masters { parts.append(Part(node: target, command: command, original: index)) }
                joins.append(.single)
            case .none, .scan:
                let target = try ClusterProtocol.slot(of: command).map { slot throws(RedisError) in try node(slot) } ?? first
                parts.append(Part(node: target, command: command, original: index))
                joins.append(.single)
            case .single, .script:
                add(try node(ClusterProtocol.slot(of: command) ?? 0), command, index)
                joins.append(.single)
            case .each(let from):
                let keys = Array(command.arguments[from...])
                let groups = try Self.groupBySlot(keys, node)
                if groups.count <= 1 {
                    add(groups.first?.node ?? first, command, index)
                    joins.append(.single)
                    continue
                }
                for group in groups {
                    add(group.node, RedisCommand(Array(command.arguments[..<from]) + group.positions.map { keys[$0] }), index)
                }
                joins.append(name == "MGET" ? .positions(groups.map(\.positions), total: keys.count) : .sum)
            case .streams(let at):
                let n = (command.arguments.count - at - 1) / 2
                let keys = Array(command.arguments[(at + 1)..<(at + 1 + n)])
                let ids = Array(command.arguments[(at + 1 + n)...])
                let groups = try Self.groupBySlot(keys, node)
                if groups.count <= 1 {
                    add(groups.first?.node ?? first, command, index)
                    joins.append(.single)
                    continue
                }
                // No BLOCK on any of them (one would hold the others); the wait is done here.
                var head = Array(command.arguments[..<at])
                var block: Duration?
                if let b = head.indices.first(where: { String(decoding: head[$0], as: UTF8.self).uppercased() == "BLOCK" }), b + 1 < head.count {
                    block = .milliseconds(min(100, Int(String(decoding: head[b + 1], as: UTF8.self)) ?? 0))
                    head.removeSubrange(b...(b + 1))
                }
                for group in groups {
                    add(group.node, RedisCommand(head + [command.arguments[at]] + group.positions.map { keys[$0] } + group.positions.map { ids[$0] }), index)
                }
                joins.append(.streams(block: block))
            }
        }
        var (replies, redirected) = try send(parts)
        // A write sent again to another master after the pipeline's WAIT ran there: not confirmed.
        if redirected {
            for index in commands.indices where ClusterProtocol.name(of: commands[index]) == "WAIT" {
                for part in parts.indices where parts[part].original == index { replies[part] = .integer(0) }
            }
        }
        // Blocked reads split over several masters: when nothing came, wait here, then read once more.
        for (index, join) in joins.enumerated() {
            guard case .streams(let block?) = join, block > .zero else { continue }
            let mine = parts.indices.filter { parts[$0].original == index }
            guard mine.allSatisfy({ replies[$0] == .null }) else { continue }
            let (seconds, attoseconds) = block.components
            usleep(useconds_t(seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
            let (again, _) = try send(mine.map { parts[$0] })
            for (position, part) in mine.enumerated() { replies[part] = again[position] }
        }
        var results: [RESPValue] = []
        results.reserveCapacity(commands.count)
        var cursor = 0
        for (index, join) in joins.enumerated() {
            var mine: [RESPValue] = []
            while cursor < parts.count, parts[cursor].original == index {
                mine.append(replies[cursor])
                cursor += 1
            }
            results.append(Self.join(mine, join))
        }
        return results
    }

    /// The positions of `keys` grouped by hash slot (a command may name keys of one slot only,
    /// even on one master: `CROSSSLOT`), in order of first appearance, with each slot's master.
    private static func groupBySlot(_ keys: [[UInt8]], _ node: (Int) throws(RedisError) -> HostPort) throws(RedisError) -> [(node: HostPort, positions: [Int])] {
        var groups: [(slot: Int, node: HostPort, positions: [Int])] = []
        for (position, key) in keys.enumerated() {
            let slot = ClusterProtocol.slot(of: key)
            if let at = groups.firstIndex(where: { $0.slot == slot }) {
                groups[at].positions.append(position)
            } else {
                groups.append((slot, try node(slot), [position]))
            }
        }
        return groups.map { ($0.node, $0.positions) }
    }

    private static func join(_ replies: [RESPValue], _ join: Join) -> RESPValue {
        if let error = replies.first(where: { if case .error = $0 { true } else { false } }), replies.count > 1 { return error }
        switch join {
        case .single:
            return replies.first ?? .null
        case .sum:
            return .integer(replies.reduce(0) { $0 + ($1.int ?? 0) })
        case .least:
            return .integer(replies.compactMap(\.int).min() ?? 0)
        case .positions(let positions, let total):
            var values = [RESPValue](repeating: .null, count: total)
            for (reply, places) in zip(replies, positions) {
                for (value, place) in zip(reply.array ?? [], places) { values[place] = value }
            }
            return .array(values)
        case .streams:
            let arrays = replies.compactMap(\.array)
            return arrays.isEmpty ? .null : .array(arrays.flatMap { $0 })
        }
    }

    /// A MULTI/EXEC block over one slot at `node`. A redirection refuses the block (Redis answers
    /// the queued command with it and EXEC with EXECABORT, so nothing ran): after `MOVED` it is
    /// sent again to the slot's new master, after `ASK` to the slot's importing node behind
    /// `ASKING` (which holds for the whole block), after `TRYAGAIN` (keys of the slot split
    /// between two nodes for a moment) again a little later; the last refusal is the answer.
    private func transaction(_ commands: [RedisCommand], at first: HostPort) throws(RedisError) -> [RESPValue] {
        var node = first
        var asking = false
        var attempts = 0
        while true {
            var replies: [RESPValue]
            do {
                replies = try connection(to: node).pipeline(asking ? [["ASKING"]] + commands : commands)
                if asking { replies.removeFirst() }
            } catch {
                nodes[node] = nil
                topology.invalidate()
                throw error
            }
            let refusal = replies.lazy.compactMap { reply -> String? in
                guard case .error(let message) = reply else { return nil }
                return ClusterProtocol.redirect(message) != nil || message.hasPrefix("TRYAGAIN") ? message : nil
            }.first
            guard let refusal, attempts < Self.maxRedirects * 4 else { return replies }
            attempts += 1
            if let redirect = redirection(refusal, from: node) {
                node = redirect.node
                asking = redirect.kind == .ask
            } else {
                usleep(25_000)  // TRYAGAIN, as for single commands
            }
        }
    }

    /// The redirection in an error reply from `origin`, its node completed (`:port` names the
    /// answering node's host) and, for `MOVED`, learnt by the map; nil for any other reply.
    private func redirection(_ message: String, from origin: HostPort) -> ClusterRedirect? {
        guard var redirect = ClusterProtocol.redirect(message) else { return nil }
        if redirect.node.host.isEmpty { redirect.node.host = origin.host }
        if redirect.kind == .moved { topology.moved(redirect) }
        return redirect
    }

    /// Sends `parts` (one pipeline per node, in order within each), following redirections;
    /// returns the replies in the order of `parts`, and whether any command was redirected.
    private func send(_ parts: [Part]) throws(RedisError) -> ([RESPValue], Bool) {
        var replies = [RESPValue](repeating: .null, count: parts.count)
        var byNode: [(node: HostPort, indices: [Int])] = []
        for (index, part) in parts.enumerated() {
            if let at = byNode.firstIndex(where: { $0.node == part.node }) { byNode[at].indices.append(index) } else { byNode.append((part.node, [index])) }
        }
        for (node, indices) in byNode {
            let answers: [RESPValue]
            do {
                answers = try connection(to: node).pipeline(indices.map { parts[$0].command })
            } catch {
                nodes[node] = nil
                topology.invalidate()
                throw error
            }
            for (index, answer) in zip(indices, answers) { replies[index] = answer }
        }
        var redirected = false
        for index in replies.indices {
            guard case .error(let message) = replies[index] else { continue }
            if ClusterProtocol.redirect(message) != nil || message.hasPrefix("TRYAGAIN") { redirected = true }
            replies[index] = try follow(parts[index].command, reply: replies[index], from: parts[index].node)
        }
        return (replies, redirected)
    }

    /// Follows `MOVED` (the map learns it), `ASK` (`ASKING` first, this once) and `TRYAGAIN`
    /// (a multi-key command during a migration; 25 ms later) for one command.
    private func follow(_ command: RedisCommand, reply first: RESPValue, from origin: HostPort) throws(RedisError) -> RESPValue {
        var reply = first
        var redirects = 0
        while case .error(let message) = reply, redirects < Self.maxRedirects * 4 {
            if message.hasPrefix("TRYAGAIN") {
                redirects += 1
                usleep(25_000)
                guard let slot = ClusterProtocol.slot(of: command), let node = try topology.map().master(of: slot) else { return reply }
                reply = try sendOne(command, to: node, asking: false)
                continue
            }
            if message.hasPrefix("CLUSTERDOWN") { topology.invalidate() }
            guard redirects < Self.maxRedirects, let redirect = redirection(message, from: origin) else { return reply }
            redirects += 1
            reply = try sendOne(command, to: redirect.node, asking: redirect.kind == .ask)
        }
        return reply
    }

    private func sendOne(_ command: RedisCommand, to node: HostPort, asking: Bool) throws(RedisError) -> RESPValue {
        do {
            let connection = try connection(to: node)
            return asking ? try connection.pipeline([["ASKING"], command])[1] : try connection.send(command)
        } catch {
            nodes[node] = nil
            topology.invalidate()
            throw error
        }
    }
}
