import Processor
import Testing

@Suite("Lease book")
struct LeaseBookTests {
    @Test("a taken-over shard is claimed before it is read, from the takeover idle time; one left by this consumer's previous run at once")
    func takeover() {
        var book = LeaseBook(me: "p1", takeoverIdleMillis: 4000)
        let (plan, left) = book.plan(owners: [nil, "p1", "p2", nil], liveConsumers: 2)
        #expect(left == [1], "the lease with our name that this run never took is a previous run's")
        #expect(plan == LeaseBalancer.Plan(acquire: [0, 1], release: []))
        for shard in plan.acquire { book.acquired(shard, leftByPreviousRun: left.contains(shard)) }
        #expect(book.owned == [0, 1] && book.reading.isEmpty)
        #expect(book.claims.map(\.shard) == [0, 1] && book.claims.map(\.minIdleMillis) == [4000, 0])
        book.claimed(1)
        #expect(book.reading == [1])
        book.claimed(0)
        #expect(book.reading == [0, 1] && book.claims.isEmpty)
        // The next round finds both leases ours: nothing is treated as left behind.
        let (again, none) = book.plan(owners: ["p1", "p1", "p2", nil], liveConsumers: 2)
        #expect(none.isEmpty && again == LeaseBalancer.Plan(acquire: [], release: []))
    }

    @Test("a lost or released lease is forgotten, with its pending claim; releaseAll gives everything up once")
    func losing() {
        var book = LeaseBook(me: "p1", takeoverIdleMillis: 100)
        for shard in 0..<4 { book.acquired(shard, leftByPreviousRun: false) }
        book.claimed(0)
        book.lost(1)
        book.released(2)
        #expect(book.owned == [0, 3] && book.claims.map(\.shard) == [3] && book.reading == [0])
        #expect(book.renewals == [0, 3])
        #expect(book.releaseAll() == [0, 3])
        #expect(book.owned.isEmpty && book.claims.isEmpty && book.releaseAll().isEmpty)
    }

    @Test("over its fair share it releases one shard per round; with no live count it still plans (one consumer)")
    func balance() {
        var book = LeaseBook(me: "p1", takeoverIdleMillis: 100)
        for shard in 0..<8 { book.acquired(shard, leftByPreviousRun: false) }
        let (plan, _) = book.plan(owners: Array(repeating: "p1", count: 8), liveConsumers: 4)
        #expect(plan == LeaseBalancer.Plan(acquire: [], release: [7]))
        let lone = LeaseBook(me: "p9", takeoverIdleMillis: 100)
        #expect(lone.plan(owners: [nil, nil], liveConsumers: 0).plan.acquire == [0, 1])
        #expect(LeaseBook(me: "p", takeoverIdleMillis: -5).takeoverIdleMillis == 0)
    }
}
