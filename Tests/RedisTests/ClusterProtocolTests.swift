import Redis
import TelemetryCore
import Testing

@Suite("Redis Cluster protocol (no I/O)")
struct ClusterProtocolTests {
    @Test("CRC16 and hash slots match the cluster specification, hash tags included")
    func slots() {
        #expect(ClusterProtocol.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(ClusterProtocol.slot(of: "foo") == 12182)
        #expect(ClusterProtocol.slot(of: "bar") == 5061)
        #expect(ClusterProtocol.slot(of: "hello") == 866)
        #expect(ClusterProtocol.slot(of: "") == 0)
        // The specification's examples of hash tags.
        #expect(ClusterProtocol.slot(of: "{user1000}.following") == ClusterProtocol.slot(of: "user1000"))
        #expect(ClusterProtocol.slot(of: "{user1000}.followers") == ClusterProtocol.slot(of: "user1000"))
        #expect(ClusterProtocol.slot(of: "foo{}{bar}") == Int(ClusterProtocol.crc16(Array("foo{}{bar}".utf8)) & 0x3FFF))
        #expect(ClusterProtocol.slot(of: "foo{{bar}}zap") == ClusterProtocol.slot(of: "{bar"))
        #expect(ClusterProtocol.slot(of: "foo{bar}{zap}") == ClusterProtocol.slot(of: "bar"))
        #expect(ClusterProtocol.slot(of: "no{close") == Int(ClusterProtocol.crc16(Array("no{close".utf8)) & 0x3FFF))
        // Binary keys: NUL and high bytes hash like any others.
        #expect((0..<SlotMap.slotCount).contains(ClusterProtocol.slot(of: [0, 255, 0x7B, 0, 0x7D])))
        #expect(ClusterProtocol.slot(of: [0x7B, 0, 0x7D, 1]) == Int(ClusterProtocol.crc16([0]) & 0x3FFF))
    }

    @Test("a shard's keys share its slot, and the task keys share one")
    func projectKeys() {
        let keys = RedisKeys(prefix: "telemetry", hashTags: true)
        for shard in [0, 3, 7, 1023] {
            #expect(ClusterProtocol.slot(of: keys.stream(shard)) == ClusterProtocol.slot(of: keys.lease(shard)))
            #expect(ClusterProtocol.slot(of: keys.stream(shard)) == ClusterProtocol.slot(of: "s\(shard)"))
        }
        let tasks = ClusterProtocol.slot(of: keys.tasks)
        #expect(ClusterProtocol.slot(of: keys.processing("p1")) == tasks)
        #expect(ClusterProtocol.slot(of: keys.heartbeat("p{2}")) == tasks)
        // Eight shards spread over three equal masters (0-5460, 5461-10922, 10923-16383).
        let owners = Set((0..<8).map { min(2, ClusterProtocol.slot(of: keys.stream($0)) / 5461) })
        #expect(owners.count == 3)
    }

    @Test("where each command's keys are")
    func keyPositions() {
        func keys(_ command: RedisCommand) -> [String] { ClusterProtocol.keyArguments(of: command).map { String(decoding: $0, as: UTF8.self) } }
        #expect(keys(["XADD", "k", "*", "d", "x"]) == ["k"])
        #expect(keys(["xinfo", "GROUPS", "k"]) == ["k"])
        #expect(keys(["XGROUP", "CREATE", "k", "g", "0", "MKSTREAM"]) == ["k"])
        #expect(keys(["MGET", "a", "b", "c"]) == ["a", "b", "c"])
        #expect(keys(["EVAL", "return 1", "2", "a", "b", "x"]) == ["a", "b"])
        #expect(keys(["EVAL", "return 1", "0", "x"]) == [])
        #expect(keys(["EVAL", "return 1", "9", "x"]) == [], "more keys than arguments: none taken")
        #expect(keys(["XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "BLOCK", "100", "STREAMS", "a", "b", ">", ">"]) == ["a", "b"])
        #expect(keys(["XREAD", "STREAMS", "a", "0"]) == ["a"])
        #expect(keys(["MEMORY", "USAGE", "telemetry:dlq"]) == ["telemetry:dlq"])
        #expect(keys(["MEMORY", "STATS"]) == [])
        #expect(keys(["PING"]) == [] && keys(["WAIT", "1", "100"]) == [] && keys(["CONFIG", "GET", "x"]) == [])
        #expect(ClusterProtocol.slot(of: ["PING"] as RedisCommand) == nil)
        #expect(ClusterProtocol.slot(of: ["SCAN", "0", "MATCH", "{t:tasks}:consumer:*", "COUNT", "500"] as RedisCommand) == ClusterProtocol.slot(of: "t:tasks"))
        #expect(ClusterProtocol.slot(of: ["SCAN", "0", "MATCH", "t:consumer:*"] as RedisCommand) == nil)
        #expect(ClusterProtocol.slot(of: ["SCAN", "0", "MATCH", "{t*}:x"] as RedisCommand) == nil, "a tag with a wildcard names no slot")
    }

    @Test("MOVED and ASK replies parse; anything else is not a redirection")
    func redirects() {
        #expect(ClusterProtocol.redirect("MOVED 3999 127.0.0.1:6381") == ClusterRedirect(kind: .moved, slot: 3999, node: HostPort(host: "127.0.0.1", port: 6381)))
        #expect(ClusterProtocol.redirect("ASK 0 10.0.0.2:7000") == ClusterRedirect(kind: .ask, slot: 0, node: HostPort(host: "10.0.0.2", port: 7000)))
        #expect(ClusterProtocol.redirect("MOVED 16383 ::1:7001")?.node == HostPort(host: "::1", port: 7001))
        #expect(ClusterProtocol.redirect("MOVED 5 :7001")?.node == HostPort(host: "", port: 7001))
        for bad in ["MOVED 16384 127.0.0.1:1", "MOVED -1 a:1", "MOVED 1 a", "MOVED 1 a:0", "MOVED 1 a:99999", "ERR wrong", "MOVED", "TRYAGAIN x y", ""] {
            #expect(ClusterProtocol.redirect(bad) == nil, "\(bad)")
        }
    }

    static func bulk(_ s: String) -> RESPValue { .bulk(Array(s.utf8)) }

    @Test("the slot map from CLUSTER SHARDS: the online master of each shard, ranges as given, a slot no shard lists uncovered")
    func shards() {
        func node(_ ip: String, _ port: Int, _ role: String, _ health: String = "online") -> RESPValue {
            .array([Self.bulk("id"), Self.bulk("x"), Self.bulk("port"), .integer(port), Self.bulk("ip"), Self.bulk(ip),
                    Self.bulk("endpoint"), Self.bulk(ip), Self.bulk("role"), Self.bulk(role), Self.bulk("replication-offset"), .integer(1),
                    Self.bulk("health"), Self.bulk(health)])
        }
        let reply = RESPValue.array([
            .array([Self.bulk("slots"), .array([.integer(0), .integer(5460)]),
                    Self.bulk("nodes"), .array([node("127.0.0.1", 7003, "replica"), node("127.0.0.1", 7000, "master")])]),
            .array([Self.bulk("slots"), .array([.integer(5461), .integer(10921), .integer(10923), .integer(16383)]),
                    Self.bulk("nodes"), .array([node("127.0.0.1", 7001, "master"), node("127.0.0.1", 7004, "replica")])]),
            // A failed master and its promoted replica: the online master serves.
            .array([Self.bulk("slots"), .array([]),
                    Self.bulk("nodes"), .array([node("127.0.0.1", 7002, "master", "fail"), node("?", 7005, "master")])]),
        ])
        let map = ClusterProtocol.slotMap(shards: reply, asked: HostPort(host: "10.1.1.1", port: 7000))
        #expect(map?.master(of: 0) == HostPort(host: "127.0.0.1", port: 7000))
        #expect(map?.master(of: 5460) == HostPort(host: "127.0.0.1", port: 7000))
        #expect(map?.master(of: 5461) == HostPort(host: "127.0.0.1", port: 7001))
        #expect(map?.master(of: 10922) == nil)
        #expect(map?.master(of: 16383) == HostPort(host: "127.0.0.1", port: 7001))
        #expect(map?.master(of: 16384) == nil && map?.master(of: -1) == nil)
        #expect(map?.uncovered == 1)
        #expect(map?.masters == [HostPort(host: "127.0.0.1", port: 7000), HostPort(host: "127.0.0.1", port: 7001)])
        #expect(ClusterProtocol.slotMap(shards: .error("ERR unknown subcommand"), asked: HostPort(host: "a", port: 1)) == nil)
        #expect(ClusterProtocol.slotMap(shards: .array([.array([Self.bulk("slots"), .array([.integer(9), .integer(3)]),
                                                                 Self.bulk("nodes"), .array([node("a", 1, "master")])])]),
                                        asked: HostPort(host: "a", port: 1)) == nil, "a range that ends before it starts")
    }

    @Test("the slot map from CLUSTER SLOTS; an unknown address is the asked node's host; a MOVED moves one slot")
    func slotsReply() {
        let reply = RESPValue.array([
            .array([.integer(0), .integer(8191), .array([Self.bulk(""), .integer(7000), Self.bulk("id")]), .array([Self.bulk("127.0.0.1"), .integer(7003)])]),
            .array([.integer(8192), .integer(16383), .array([Self.bulk("127.0.0.2"), .integer(7001), Self.bulk("id")])]),
        ])
        var map = ClusterProtocol.slotMap(slots: reply, asked: HostPort(host: "10.0.0.9", port: 7000))
        #expect(map?.master(of: 100) == HostPort(host: "10.0.0.9", port: 7000))
        #expect(map?.master(of: 8192) == HostPort(host: "127.0.0.2", port: 7001))
        #expect(map?.uncovered == 0)
        map?.assign(100...100, to: HostPort(host: "127.0.0.3", port: 7002))
        #expect(map?.master(of: 100) == HostPort(host: "127.0.0.3", port: 7002))
        #expect(map?.master(of: 101) == HostPort(host: "10.0.0.9", port: 7000))
        #expect(map?.masters.count == 3)
    }
}
