/// Decides which shard leases a processor should take or give up: each live processor aims at
/// its fair share, `ceil(shards / live)`. Pure, so it is tested without Redis; the consumer
/// performs the actions (`SET NX PX` to acquire, a compare-and-delete to release).
package struct LeaseBalancer: Sendable, Equatable {
    package struct Plan: Sendable, Equatable {
        package var acquire: [Int]
        package var release: [Int]
        package init(acquire: [Int], release: [Int]) {
            self.acquire = acquire
            self.release = release
        }
    }

    package let shards: Int

    package init(shards: Int) { self.shards = shards }

    /// - Parameters:
    ///   - owners: the current owner of each shard's lease (nil when free), indexed by shard.
    ///   - me: this consumer's name.
    ///   - liveConsumers: processors with a live heartbeat (including this one).
    package func plan(owners: [String?], me: String, liveConsumers: Int) -> Plan {
        let fairShare = (shards + max(1, liveConsumers) - 1) / max(1, liveConsumers)
        let mine = owners.indices.filter { owners[$0] == me }
        if mine.count > fairShare {
            // Give up one at a time so that the fleet converges without thrashing.
            return Plan(acquire: [], release: [mine.last!])
        }
        let free = owners.indices.filter { owners[$0] == nil }
        return Plan(acquire: Array(free.prefix(fairShare - mine.count)), release: [])
    }
}
