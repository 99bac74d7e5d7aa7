/// The consumer's lease bookkeeping, without I/O (tested in `LeaseBookTests`): which shards it
/// holds, which it has just taken over and must claim the pending entries of before reading new
/// ones, and which it reads. ``ConsumerActor`` performs the Redis side (renew, release, `SET NX`)
/// and reports each outcome here.
///
/// A taken-over shard's pending entries are claimed once idle for `takeoverIdleMillis`
/// (`lease.ttl_ms - lease.renew_ms`): the previous owner stopped renewing at least that long ago,
/// so nothing a live consumer was just handed is taken from it. Shards this consumer's own
/// previous run left (its name on the lease, not in this run's book) are claimed at once.
package struct LeaseBook: Sendable, Equatable {
    package let me: String
    package let takeoverIdleMillis: Int
    /// Shards whose lease this consumer holds.
    package private(set) var owned: Set<Int> = []
    /// Shards just acquired, with the minimum idle time (ms) of the claim of their pending entries.
    package private(set) var toClaim: [Int: Int] = [:]

    package init(me: String, takeoverIdleMillis: Int) {
        self.me = me
        self.takeoverIdleMillis = max(0, takeoverIdleMillis)
    }

    /// Shards read with `>` now: held, and their pending entries claimed.
    package var reading: Set<Int> { owned.subtracting(toClaim.keys) }

    /// Held shards in order, for renewal.
    package var renewals: [Int] { owned.sorted() }

    /// The renewal of `shard` failed (another consumer holds it now): it is not ours any more.
    package mutating func lost(_ shard: Int) {
        owned.remove(shard)
        toClaim[shard] = nil
    }

    /// What to release and acquire, from the owners Redis lists (nil when free, by shard) and the
    /// number of live consumers. A shard listed as this consumer's but not in the book was left
    /// by its previous run: it counts as free, to be taken over properly.
    package func plan(owners: [String?], liveConsumers: Int) -> (plan: LeaseBalancer.Plan, leftByPreviousRun: Set<Int>) {
        var owners = owners
        var left = Set<Int>()
        for (shard, owner) in owners.enumerated() where owner == me && !owned.contains(shard) {
            owners[shard] = nil
            left.insert(shard)
        }
        return (LeaseBalancer(shards: owners.count).plan(owners: owners, me: me, liveConsumers: liveConsumers), left)
    }

    package mutating func released(_ shard: Int) { lost(shard) }

    /// The lease of `shard` is ours now; its pending entries are claimed before it is read.
    package mutating func acquired(_ shard: Int, leftByPreviousRun: Bool) {
        owned.insert(shard)
        toClaim[shard] = leftByPreviousRun ? 0 : takeoverIdleMillis
    }

    /// The claims still to make, in shard order.
    package var claims: [(shard: Int, minIdleMillis: Int)] { toClaim.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }

    /// The pending entries of `shard` are claimed: it is read from now on.
    package mutating func claimed(_ shard: Int) { toClaim[shard] = nil }

    /// Gives every lease up (at shutdown); returns the shards to release, in order.
    package mutating func releaseAll() -> [Int] {
        defer {
            owned.removeAll()
            toClaim.removeAll()
        }
        return owned.sorted()
    }
}
