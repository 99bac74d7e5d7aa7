/// `redis.cluster_nodes`: a Redis Cluster, found through any of these nodes (Docs/high-availability.md).
public struct ClusterSettings: Sendable, Hashable, CustomStringConvertible {
    /// Nodes to ask for the slot map (any node of the cluster will do; list several).
    public var seeds: [HostPort]

    /// The settings for these seeds.
    public init(seeds: [HostPort]) { self.seeds = seeds }

    /// `cluster host:port,…`.
    public var description: String { "cluster " + seeds.map(\.description).joined(separator: ",") }
}

/// Which master serves each of the 16 384 hash slots.
public struct SlotMap: Sendable, Equatable {
    /// Hash slots in a cluster.
    public static let slotCount = 16_384
    /// The masters, in the order the map names them.
    public private(set) var masters: [HostPort]
    /// Per slot, an index into ``masters``; -1: no master serves it.
    private var owners: [Int16]

    /// A map with no master: every slot uncovered.
    public init() {
        masters = []
        owners = Array(repeating: -1, count: Self.slotCount)
    }

    /// The master serving `slot`, if any.
    public func master(of slot: Int) -> HostPort? {
        guard slot >= 0, slot < Self.slotCount else { return nil }
        let index = Int(owners[slot])
        return index < 0 ? nil : masters[index]
    }

    /// Slots no master serves.
    public var uncovered: Int { owners.reduce(0) { $0 + ($1 < 0 ? 1 : 0) } }

    /// Assigns `slots` to `master` (a `MOVED` reply, or one range of `CLUSTER SHARDS`).
    public mutating func assign(_ slots: ClosedRange<Int>, to master: HostPort) {
        let index: Int
        if let known = masters.firstIndex(of: master) {
            index = known
        } else {
            // A reply naming more masters than there are slots is not a cluster's: ignored.
            guard masters.count < Self.slotCount else { return }
            masters.append(master)
            index = masters.count - 1
        }
        for slot in slots.clamped(to: 0...(Self.slotCount - 1)) { owners[slot] = Int16(index) }
    }
}

/// A redirection in an error reply: `MOVED <slot> <host>:<port>` (the slot lives there now; update
/// the map) or `ASK <slot> <host>:<port>` (this once, while the slot migrates: send `ASKING` first).
public struct ClusterRedirect: Sendable, Equatable {
    /// `MOVED` or `ASK`.
    public enum Kind: Sendable { case moved, ask }
    /// Which redirection.
    public var kind: Kind
    /// The slot the command's key hashes to.
    public var slot: Int
    /// The node to send it to (an empty host: the node that answered did not know its address).
    public var node: HostPort

    /// A redirection of `kind` for `slot` to `node`.
    public init(kind: Kind, slot: Int, node: HostPort) {
        self.kind = kind
        self.slot = slot
        self.node = node
    }
}

/// The pure decisions of a Redis Cluster client (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/):
/// hash slots, where a command's keys are, redirections and the slot map's replies.
public enum ClusterProtocol {
    /// CRC16-CCITT (XMODEM), as the cluster hashes keys.
    static let crcTable: [UInt16] = (0..<256).map { byte in
        var crc = UInt16(byte) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }

    /// CRC16 of `bytes` (the XMODEM variant the cluster uses).
    public static func crc16<C: Collection<UInt8>>(_ bytes: C) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes { crc = (crc << 8) ^ crcTable[Int((crc >> 8) ^ UInt16(byte))] }
        return crc
    }

    /// The hash slot of `key`: of its hash tag (the bytes between the first `{` and the first `}`
    /// after it) when that is not empty, else of the whole key.
    public static func slot(of key: [UInt8]) -> Int {
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
           let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            return Int(crc16(key[(open + 1)..<close]) & 0x3FFF)
        }
        return Int(crc16(key) & 0x3FFF)
    }

    /// The hash slot of a text key (its UTF-8 bytes).
    public static func slot(of key: String) -> Int { slot(of: Array(key.utf8)) }

    /// Where a command's keys are.
    public enum Keys: Sendable, Equatable {
        /// No key: any master answers it (`PING`, `INFO`, `CONFIG`, `TIME`, `ROLE`, `WAIT`, …).
        case none
        /// The argument at this index is the key.
        case single(Int)
        /// Every argument from this index on is a key (`MGET`, `DEL`, `UNLINK`, `EXISTS`, `TOUCH`).
        case each(from: Int)
        /// `XREAD`/`XREADGROUP`: the keys follow `STREAMS` (at this index), then as many ids.
        case streams(at: Int)
        /// `EVAL`/`EVALSHA`: this many keys from index 3.
        case script(keys: Int)
        /// `SCAN … MATCH pattern`: the pattern's hash tag, if it has one, says the slot.
        case scan(pattern: Int?)
    }

    static let keyless: Set<String> = ["PING", "AUTH", "ROLE", "INFO", "CONFIG", "TIME", "WAIT", "SCRIPT", "CLUSTER", "ASKING", "CLIENT",
                                       "SELECT", "FLUSHALL", "FLUSHDB", "DBSIZE", "SHUTDOWN", "HELLO", "COMMAND", "LASTSAVE", "BGREWRITEAOF",
                                       "READONLY", "READWRITE", "ECHO", "LATENCY", "SLOWLOG", "DEBUG", "FUNCTION", "ACL", "QUIT"]

    /// The command's name, upper-cased (empty for an empty command).
    public static func name(of command: RedisCommand) -> String {
        command.arguments.first.map { String(decoding: $0, as: UTF8.self).uppercased() } ?? ""
    }

    /// Where the keys of `command` are.
    public static func keys(of command: RedisCommand) -> Keys {
        guard !command.arguments.isEmpty else { return .none }
        let name = self.name(of: command)
        let count = command.arguments.count
        switch name {
        case _ where keyless.contains(name):
            return .none
        case "MGET", "DEL", "UNLINK", "EXISTS", "TOUCH":
            return .each(from: 1)
        case "XREAD", "XREADGROUP":
            guard let index = command.arguments.indices.dropFirst().first(where: { String(decoding: command.arguments[$0], as: UTF8.self).uppercased() == "STREAMS" })
            else { return .none }
            return .streams(at: index)
        case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
            guard count > 2, let n = Int(String(decoding: command.arguments[2], as: UTF8.self)), n >= 0, n <= count - 3 else { return .none }
            return .script(keys: n)
        case "MEMORY":
            // MEMORY USAGE <key>; the other subcommands name no key.
            return count > 2 && String(decoding: command.arguments[1], as: UTF8.self).uppercased() == "USAGE" ? .single(2) : .none
        case "XINFO", "XGROUP", "OBJECT":
            return count > 2 ? .single(2) : .none
        case "SCAN":
            let match = command.arguments.indices.dropFirst(2).first { String(decoding: command.arguments[$0 - 1], as: UTF8.self).uppercased() == "MATCH" }
            return .scan(pattern: match)
        default:
            return count > 1 ? .single(1) : .none
        }
    }

    /// The key arguments of `command` (for `XREAD`/`XREADGROUP`: the streams).
    public static func keyArguments(of command: RedisCommand) -> [[UInt8]] {
        let arguments = command.arguments
        switch keys(of: command) {
        case .none, .scan:
            return []
        case .single(let index):
            return [arguments[index]]
        case .each(let from):
            return Array(arguments[from...])
        case .streams(let at):
            let n = (arguments.count - at - 1) / 2
            return Array(arguments[(at + 1)..<(at + 1 + n)])
        case .script(let n):
            return Array(arguments[3..<(3 + n)])
        }
    }

    /// The slot a command goes to: its first key's (the cluster refuses keys of several slots in
    /// one command, `CROSSSLOT`, unless the client splits it), or a `SCAN` pattern's hash tag; nil: any master.
    public static func slot(of command: RedisCommand) -> Int? {
        if case .scan(let pattern?) = keys(of: command) {
            let bytes = command.arguments[pattern]
            guard let open = bytes.firstIndex(of: UInt8(ascii: "{")), let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")),
                  close > open + 1, !bytes[open...close].contains(where: { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") })
            else { return nil }
            return slot(of: Array(bytes[open...close]))
        }
        return keyArguments(of: command).first.map { slot(of: $0) }
    }

    /// Parses `MOVED <slot> <host>:<port>` / `ASK …`; nil for any other error.
    public static func redirect(_ message: String) -> ClusterRedirect? {
        let parts = message.split(separator: " ")
        guard parts.count == 3, let slot = Int(parts[1]), (0..<SlotMap.slotCount).contains(slot) else { return nil }
        let kind: ClusterRedirect.Kind
        switch parts[0] {
        case "MOVED": kind = .moved
        case "ASK": kind = .ask
        default: return nil
        }
        // `host:port`; an IPv6 host comes without brackets (split at the last colon).
        let address = parts[2]
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        // A node that does not know its own address says ":port"; the caller fills the host in.
        return ClusterRedirect(kind: kind, slot: slot, node: HostPort(host: host, port: port))
    }

    /// The slot map in a `CLUSTER SHARDS` reply (Redis 7): per shard, `slots` (start/end pairs) and
    /// `nodes` (maps with `ip` or `endpoint`, `port`, `role`, `health`); the master of each shard that
    /// serves slots. A node's unknown address (`?`, empty) is taken to be the host of `asked`.
    public static func slotMap(shards reply: RESPValue, asked: HostPort) -> SlotMap? {
        guard let shards = reply.array else { return nil }
        var map = SlotMap()
        for shard in shards {
            let fields = RedisClient.fields(of: shard)
            guard let slots = fields["slots"]?.array, let nodes = fields["nodes"]?.array else { return nil }
            let masters = nodes.map(RedisClient.fields(of:)).filter { $0["role"]?.string == "master" && ($0["health"]?.string ?? "online") == "online" }
            guard let master = masters.first, let port = master["port"]?.int ?? master["port"]?.string.flatMap({ Int($0) }) else { continue }
            var host = master["ip"]?.string ?? master["endpoint"]?.string ?? ""
            if host.isEmpty || host == "?" { host = asked.host }
            let node = HostPort(host: host, port: port)
            var index = 0
            while index + 1 < slots.count {
                guard let start = slots[index].int, let end = slots[index + 1].int, start <= end else { return nil }
                map.assign(start...end, to: node)
                index += 2
            }
        }
        return map
    }

    /// The slot map in a `CLUSTER SLOTS` reply (before Redis 7): `[start, end, [ip, port, id], replicas…]` per range.
    public static func slotMap(slots reply: RESPValue, asked: HostPort) -> SlotMap? {
        guard let ranges = reply.array else { return nil }
        var map = SlotMap()
        for range in ranges {
            guard let parts = range.array, parts.count >= 3, let start = parts[0].int, let end = parts[1].int, start <= end,
                  let master = parts[2].array, master.count >= 2, let port = master[1].int else { return nil }
            var host = master[0].string ?? ""
            if host.isEmpty || host == "?" { host = asked.host }
            map.assign(start...end, to: HostPort(host: host, port: port))
        }
        return map
    }
}
