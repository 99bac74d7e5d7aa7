import Logging
import Postgres
import TelemetryCore

/// Partition maintenance: the day partitions a group needs, and the periodic create-ahead and
/// retention task.
extension StorageActor {
    func ensurePartitions(for batches: [StorageBatch], _ pg: PostgresConnection) throws(PostgresError) {
        var days = Set<Int>()
        for batch in batches {
            var last = Int.min
            for sample in batch.samples {
                let day = Timestamp.dayNumber(micros: sample.timestampMicros)
                if day != last && !knownPartitions.contains(day) { days.insert(day) }
                last = day
            }
        }
        for day in days.sorted() {
            try pg.query("SELECT telemetry_ensure_partition($1::date)", [PartitionPlanner.date(day: day)])
            knownPartitions.insert(day)
        }
    }

    /// The partition task: creates today's and `aheadDays` more partitions, drops those past
    /// `retentionDays`, deletes per-minute aggregates past `aggregateRetentionDays`, hourly ones
    /// past `hourlyRetentionDays` and daily ones past `dailyRetentionDays` (0: kept forever), and
    /// idempotency records older than `idempotencyDays`. `nowMicros` is injected so tests can
    /// drive days.
    @discardableResult
    package func maintainPartitions(nowMicros: Int64, aheadDays: Int, retentionDays: Int, aggregateRetentionDays: Int,
                                   hourlyRetentionDays: Int = 1826, dailyRetentionDays: Int = 0,
                                   idempotencyDays: Int = 8) throws(PostgresError) -> PartitionPlan {
        let pg = try live()
        let existing = try pg.execute("""
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'samples'::regclass
            """).rows.compactMap { $0[0] }
        let today = Timestamp.dayNumber(micros: nowMicros)
        let plan = PartitionPlanner.plan(today: today, aheadDays: aheadDays, retentionDays: retentionDays, existing: existing)
        for day in plan.create {
            try pg.query("SELECT telemetry_ensure_partition($1::date)", [PartitionPlanner.date(day: day)])
            knownPartitions.insert(day)
        }
        for name in plan.drop {
            try pg.execute("DROP TABLE IF EXISTS \"\(name)\"")
            if let day = PartitionPlanner.day(of: name) { knownPartitions.remove(day) }
        }
        for (table, days) in [("aggregates_1m", aggregateRetentionDays), ("aggregates_1h", hourlyRetentionDays), ("aggregates_1d", dailyRetentionDays)]
        where days > 0 {
            try pg.query("DELETE FROM \(table) WHERE bucket < timestamptz 'epoch' + $1::bigint * interval '1 microsecond'",
                         [String(nowMicros - Int64(days) * 86_400_000_000)])
        }
        try pg.query("DELETE FROM ingested_batches WHERE committed_at < timestamptz 'epoch' + $1::bigint * interval '1 microsecond'",
                     [String(nowMicros - Int64(idempotencyDays) * 86_400_000_000)])
        if !plan.create.isEmpty || !plan.drop.isEmpty {
            logger.info("partitions maintained", metadata: ["created": "\(plan.create.map(PartitionPlanner.name(day:)))", "dropped": "\(plan.drop)"])
        }
        return plan
    }
}
