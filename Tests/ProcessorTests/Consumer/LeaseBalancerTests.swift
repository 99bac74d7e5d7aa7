import Processor
import Testing

@Suite("Lease balancer")
struct LeaseBalancerTests {
    let balancer = LeaseBalancer(shards: 8)

    @Test("a lone processor takes every free shard")
    func alone() {
        #expect(balancer.plan(owners: Array(repeating: nil, count: 8), me: "a", liveConsumers: 1) == .init(acquire: Array(0..<8), release: []))
    }

    @Test("a second processor gets a fair share as the first gives shards up one at a time")
    func converge() {
        var owners: [String?] = Array(repeating: "a", count: 8)
        for _ in 0..<10 {
            for me in ["a", "b"] {
                let plan = balancer.plan(owners: owners, me: me, liveConsumers: 2)
                for shard in plan.release { owners[shard] = nil }
                for shard in plan.acquire { owners[shard] = me }
            }
        }
        #expect(owners.filter { $0 == "a" }.count == 4)
        #expect(owners.filter { $0 == "b" }.count == 4)
    }

    @Test("a survivor takes over the shards of a dead processor once its leases expired")
    func takeover() {
        let owners: [String?] = ["a", "a", "a", "a", nil, nil, nil, nil]
        #expect(balancer.plan(owners: owners, me: "a", liveConsumers: 1).acquire == [4, 5, 6, 7])
        // While the dead one's leases are still held, nothing can be taken.
        let held: [String?] = ["a", "a", "a", "a", "b", "b", "b", "b"]
        #expect(balancer.plan(owners: held, me: "a", liveConsumers: 1) == .init(acquire: [], release: []))
    }
}
