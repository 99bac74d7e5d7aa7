@testable import Redis
import Testing

@Suite("Queue state")
struct QueueStateTests {
    static func groupReply(name: String, lag: RESPValue, pending: Int) -> RESPValue {
        .array([.array([.bulk(Array("name".utf8)), .bulk(Array(name.utf8)), .bulk(Array("pending".utf8)), .integer(pending),
                        .bulk(Array("lag".utf8)), lag])])
    }

    @Test("a missing stream reads as no group with its length as lag; a group's lag and pending are read; an unknown lag stays unknown")
    func replies() throws {
        let state = try RedisClient.queueState(replies: [
            .integer(0), .error("ERR no such key"),
            .integer(12), Self.groupReply(name: "processors", lag: .integer(3), pending: 2),
            .integer(7), Self.groupReply(name: "processors", lag: .null, pending: 0),
            .integer(4), .integer(9),
        ], shards: 3, group: "processors")
        #expect(state.shards[0].groupExists == false)
        #expect(state.shards[0].lag == 0)
        #expect(state.shards[1].lag == 3)
        #expect(state.shards[1].pending == 2)
        #expect(state.shards[2].lag == nil)
        #expect(state.compatTasksQueued == 4)
        #expect(state.deadLetters == 9)
    }

    /// Found by review: any error reply to XINFO GROUPS read as "no group", so a NOPERM or a
    /// LOADING Redis made the processor look unconfigured instead of failing the probe.
    @Test("an error reply other than a missing stream's is an error, not a missing group", arguments: [
        "NOPERM this user has no permissions to run the 'xinfo' command", "LOADING Redis is loading the dataset in memory",
    ])
    func errorReplies(message: String) {
        #expect(throws: RedisError.self) {
            try RedisClient.queueState(replies: [.integer(5), .error(message), .integer(0), .integer(0)], shards: 1, group: "processors")
        }
    }
}
