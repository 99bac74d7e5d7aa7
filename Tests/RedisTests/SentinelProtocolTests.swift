import Redis
import Testing

@Suite("Sentinel client decisions")
struct SentinelProtocolTests {
    @Test("get-master-addr-by-name: an [ip, port] pair is the master; null, an error or garbage is not")
    func masterAddress() {
        #expect(SentinelProtocol.masterAddress(.array([.bulk(Array("127.0.0.1".utf8)), .bulk(Array("6380".utf8))])) == HostPort(host: "127.0.0.1", port: 6380))
        #expect(SentinelProtocol.masterAddress(.array([.bulk(Array("::1".utf8)), .bulk(Array("6380".utf8))]))?.description == "[::1]:6380")
        for reply: RESPValue in [.null, .error("IDONTKNOW"), .array([]), .array([.bulk(Array("h".utf8))]),
                                 .array([.bulk(Array("h".utf8)), .bulk(Array("0".utf8))]), .array([.bulk(Array("h".utf8)), .bulk(Array("70000".utf8))]),
                                 .array([.bulk([]), .bulk(Array("6379".utf8))]), .array([.bulk(Array("h".utf8)), .bulk(Array("x".utf8))])] {
            #expect(SentinelProtocol.masterAddress(reply) == nil, "\(reply)")
        }
    }

    @Test("ROLE: only a master's reply counts; a replica's, a sentinel's or an error does not")
    func role() {
        #expect(SentinelProtocol.isMaster(.array([.bulk(Array("master".utf8)), .integer(3129659), .array([])])))
        #expect(!SentinelProtocol.isMaster(.array([.bulk(Array("slave".utf8)), .bulk(Array("127.0.0.1".utf8)), .integer(6380),
                                                   .bulk(Array("connected".utf8)), .integer(3167038)])))
        #expect(!SentinelProtocol.isMaster(.array([.bulk(Array("sentinel".utf8)), .array([])])))
        #expect(!SentinelProtocol.isMaster(.error("NOAUTH Authentication required.")))
        #expect(!SentinelProtocol.isMaster(.null))
    }

    @Test("+switch-master: the new address of our master only")
    func switchMaster() {
        func message(_ text: String, channel: String = "+switch-master", kind: String = "message") -> RESPValue {
            .array([.bulk(Array(kind.utf8)), .bulk(Array(channel.utf8)), .bulk(Array(text.utf8))])
        }
        #expect(SentinelProtocol.switchMaster(message("mymaster 127.0.0.1 6379 127.0.0.1 6380"), masterName: "mymaster") == HostPort(host: "127.0.0.1", port: 6380))
        #expect(SentinelProtocol.switchMaster(message("other 127.0.0.1 6379 127.0.0.1 6380"), masterName: "mymaster") == nil)
        #expect(SentinelProtocol.switchMaster(message("mymaster 127.0.0.1 6379 127.0.0.1"), masterName: "mymaster") == nil)
        #expect(SentinelProtocol.switchMaster(message("mymaster 127.0.0.1 6379 127.0.0.1 6380", channel: "+sdown"), masterName: "mymaster") == nil)
        #expect(SentinelProtocol.switchMaster(message("mymaster 127.0.0.1 6379 127.0.0.1 6380", kind: "subscribe"), masterName: "mymaster") == nil)
        #expect(SentinelProtocol.switchMaster(.array([.bulk(Array("subscribe".utf8)), .bulk(Array("+switch-master".utf8)), .integer(1)]),
                                              masterName: "mymaster") == nil)
    }

    @Test("error replies that mean the connection no longer reaches the master")
    func notMaster() {
        for reply in ["READONLY You can't write against a read only replica.", "LOADING Redis is loading the dataset in memory",
                      "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."] {
            #expect(SentinelProtocol.meansNotMaster(reply), "\(reply)")
        }
        for reply in ["OOM command not allowed", "BUSYGROUP Consumer Group name already exists", "WRONGTYPE", "ERR unknown command"] {
            #expect(!SentinelProtocol.meansNotMaster(reply), "\(reply)")
        }
    }

    @Test("the resolver's belief: the first master found keeps generation 0; a new address bumps it; errors of old connections say nothing")
    func belief() {
        let a = HostPort(host: "10.0.0.1", port: 6379), b = HostPort(host: "10.0.0.2", port: 6379)
        var belief = MasterBelief()
        belief.observed(a)  // a poll before anything was found: nothing to compare with
        #expect(belief == MasterBelief())
        #expect(belief.adopt(a, resolvedAt: 0) == 0 && belief.master == a)
        // An error on a connection: in doubt, connections kept (same generation) until another address is found.
        belief.failed(generation: 0)
        #expect(belief.master == nil && belief.generation == 0)
        #expect(belief.adopt(a, resolvedAt: 0) == 0)
        // A Sentinel announces b: every connection is dropped (generation 1) and b will be checked.
        belief.observed(b)
        #expect(belief.master == nil && belief.generation == 1 && belief.lastKnown == a)
        belief.observed(b)  // the poll saying the same again moves nothing further
        #expect(belief.generation == 1)
        // A resolution that started before the switch is not taken: its answer may be the old master.
        #expect(belief.adopt(a, resolvedAt: 0) == nil && belief.master == nil)
        #expect(belief.adopt(b, resolvedAt: 1) == 2 && belief.master == b && belief.lastKnown == b)
        // A late error from a connection of generation 1 leaves the new master alone.
        belief.failed(generation: 1)
        #expect(belief.master == b)
        belief.observed(b)
        #expect(belief.generation == 2 && belief.master == b)
        // Back to a (a failover back): announced once, dropped once.
        belief.observed(a)
        belief.observed(a)
        #expect(belief.generation == 3 && belief.master == nil)
        #expect(belief.adopt(a, resolvedAt: 3) == 4 && belief.announced == nil)
    }

    @Test("the last master found serves only while no Sentinel names another: never the master being replaced")
    func fallBack() {
        let old = HostPort(host: "10.0.0.1", port: 6379), new = HostPort(host: "10.0.0.2", port: 6379)
        #expect(SentinelProtocol.mayFallBack(to: old, named: []))            // no Sentinel answered
        #expect(SentinelProtocol.mayFallBack(to: old, named: [old, old]))    // they name it, it did not answer them
        #expect(!SentinelProtocol.mayFallBack(to: old, named: [new]))        // promoted, not yet master or unreachable
        #expect(!SentinelProtocol.mayFallBack(to: old, named: [old, new]))   // one Sentinel already moved on
        #expect(!SentinelProtocol.mayFallBack(to: old, named: [HostPort(host: "10.0.0.1", port: 6380)]))
    }

    @Test("the Sentinel that answered is asked first next time; the others keep their order")
    func order() {
        let a = HostPort(host: "a", port: 1), b = HostPort(host: "b", port: 2), c = HostPort(host: "c", port: 3)
        #expect(SentinelProtocol.promoting(2, in: [a, b, c]) == [c, a, b])
        #expect(SentinelProtocol.promoting(0, in: [a, b, c]) == [a, b, c])
        #expect(SentinelProtocol.promoting(5, in: [a, b, c]) == [a, b, c])
    }

    @Test("host:port parsing, IPv6 in brackets; bad ports and empty hosts refused")
    func hostPort() {
        #expect(HostPort(parsing: "10.0.0.5:26379") == HostPort(host: "10.0.0.5", port: 26379))
        #expect(HostPort(parsing: "[::1]:26379") == HostPort(host: "::1", port: 26379))
        #expect(HostPort(parsing: "sentinel-0.telemetry:26379")?.host == "sentinel-0.telemetry")
        for bad in ["", "host", ":26379", "host:", "host:0", "host:65536", "host:x", "[]:1", "::1", "::1:26379", "2001:db8::1",
                    "[::1]", "[::1:26379", "::1]:26379"] {
            #expect(HostPort(parsing: bad) == nil, "\(bad)")
        }
    }
}
