import Control
import TelemetryCore

/// The processor's metrics, mirrored from its counters at each scrape. Labels are low-cardinality:
/// a reason code, never an id.
enum ProcessorMetrics {
    static func collect(_ c: ProcessorCounters, into e: MetricsExporter) {
        e.counter("telemetry_processor_entries_read_total", help: "Stream entries read", value: c.entriesRead.load(ordering: .relaxed))
        e.counter("telemetry_processor_compat_tasks_read_total", help: "Compatibility tasks read", value: c.compatTasksRead.load(ordering: .relaxed))
        e.counter("telemetry_processor_items_completed_total", help: "Entries and tasks finished (stored or dead-lettered)", value: c.itemsCompleted.load(ordering: .relaxed))
        e.counter("telemetry_processor_samples_stored_total", help: "Samples inserted into samples", value: c.samplesStored.load(ordering: .relaxed))
        e.counter("telemetry_processor_duplicate_batches_total", help: "Batches skipped because already committed", value: c.duplicateBatches.load(ordering: .relaxed))
        e.counter("telemetry_processor_duplicate_samples_total", help: "Samples skipped because already stored", value: c.duplicateSamples.load(ordering: .relaxed))
        e.counter("telemetry_processor_conflicting_values_total", help: "Re-sent samples whose value differed (first kept)", value: c.conflictingValues.load(ordering: .relaxed))
        e.counter("telemetry_processor_alerts_total", help: "Alerts recorded", value: c.alerts.load(ordering: .relaxed))
        e.counter("telemetry_processor_outage_waits_total", help: "Waits for an unreachable PostgreSQL", value: c.outageWaits.load(ordering: .relaxed))
        e.counter("telemetry_processor_trimmed_unread_total", help: "Pending stream entries deleted (trimmed) before they were processed",
                  value: c.trimmedUnread.load(ordering: .relaxed))
        e.counter("telemetry_processor_groups_recreated_total", help: "Consumer groups recreated after Redis lost them (NOGROUP)",
                  value: c.groupsRecreated.load(ordering: .relaxed))
        e.counter("telemetry_processor_entries_possibly_lost_total", help: "Entries undelivered or pending when a consumer group was found lost",
                  value: c.entriesPossiblyLost.load(ordering: .relaxed))
        e.counter("telemetry_processor_rewinds_total", help: "Gaps re-read from a stream after a failover to a standby that missed the last commits",
                  value: c.rewinds.load(ordering: .relaxed))
        e.counter("telemetry_processor_rewound_entries_total", help: "Stream entries re-read after a failover (the rewind length)",
                  value: c.rewoundEntries.load(ordering: .relaxed))
        e.counter("telemetry_processor_rewinds_incomplete_total", help: "Re-reads after a failover that found entries after the database's position possibly trimmed or deleted from the stream (possible data loss)",
                  value: c.rewindsIncomplete.load(ordering: .relaxed))
        e.counter("telemetry_processor_stranded_redelivered_total", help: "Pending entries and tasks no worker held (a lost reply), delivered again",
                  value: c.strandedRedelivered.load(ordering: .relaxed))
        e.counter("telemetry_processor_dead_letters_evicted_total", help: "Dead letters deleted by the dead_letters.max_bytes cap",
                  value: c.deadLettersEvicted.load(ordering: .relaxed))
        e.counter("telemetry_processor_poison_total", help: "Entries and tasks quarantined as poison (consumer.max_deliveries)",
                  value: c.poisoned.load(ordering: .relaxed))
        let byReason = c.deadLettersByReason
        for code in TelemetryError.Code.all {
            e.counter("telemetry_processor_dead_letters_total", labels: [("reason", code.description)],
                      help: "Items moved to the dead-letter stream, by reason", value: byReason[code.description] ?? 0)
        }
        let types = c.tasksByType
        for type in ["hub_batch"] + TelemetryTask.Kind.allCases.map(\.rawValue) {
            let counts = types[type] ?? .init()
            let labels = [("type", type)]
            e.counter("telemetry_processor_tasks_processed_total", labels: labels, help: "Items stored and acknowledged, by type", value: counts.processed)
            e.counter("telemetry_processor_tasks_failed_total", labels: labels, help: "Items that ended in the dead letters, by type", value: counts.failed)
            e.counter("telemetry_processor_tasks_retried_total", labels: labels, help: "Retries scheduled after a failed write, by type", value: counts.retried)
        }
        for (shard, state) in c.shards.enumerated() {
            let labels = [("shard", String(shard))]
            e.gauge("telemetry_processor_stream_length", labels: labels, help: "Entries in a shard stream", value: Double(state.length))
            if let lag = state.lag {  // absent when Redis cannot tell, rather than a false 0
                e.gauge("telemetry_processor_consumer_lag", labels: labels, help: "Entries of a shard stream not yet delivered to the consumer group", value: Double(lag))
            }
            e.gauge("telemetry_processor_consumer_group_missing", labels: labels, help: "1 while the shard stream has no consumer group (being recreated)",
                    value: state.groupExists ? 0 : 1)
            e.gauge("telemetry_processor_pending_entries", labels: labels, help: "Entries delivered but not yet acknowledged", value: Double(state.pending))
        }
        e.gauge("telemetry_processor_dead_letter_stream_length", help: "Entries in the dead-letter stream", value: Double(c.deadLetterStreamLength.load(ordering: .relaxed)))
        e.gauge("telemetry_processor_worker_queue_depth", help: "Items waiting in the worker queues", value: Double(c.workerQueueDepth.load(ordering: .relaxed)))
        e.counter("telemetry_processor_copy_rows_total", help: "Rows inserted into samples", value: c.copyRows.load(ordering: .relaxed))
        e.counter("telemetry_processor_storage_transactions_total", help: "Storage transactions committed (each carries one or more batches)", value: c.storageTransactions.load(ordering: .relaxed))
        for (outcome, count) in c.cacheWrites.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            e.counter("telemetry_processor_cache_writes_total", labels: [("outcome", outcome)],
                      help: "Transactions whose latest values were written through to the Redis cache (written), failed to (failed), or were skipped after a failure or with the writer's queue full (skipped)", value: count)
        }
        e.counter("telemetry_processor_storage_batches_total", help: "Batches committed by those transactions", value: c.storageBatches.load(ordering: .relaxed))
        e.histogram("telemetry_processor_copy_duration_seconds", help: "Time a batch spends in storage: waiting for and running its group transaction (COPY, aggregates, latest values, alerts, COMMIT)", c.copyDuration)
        e.histogram("telemetry_processor_end_to_end_latency_seconds", help: "Time from a sample's timestamp to the COMMIT that stored it", c.endToEndLatency)
        e.gauge("telemetry_processor_redis_up", help: "1 when the last probe reached Redis", value: Double(c.redisReachable.load(ordering: .relaxed)))
        e.gauge("telemetry_processor_postgres_up", help: "1 when the last probe reached PostgreSQL", value: Double(c.postgresReachable.load(ordering: .relaxed)))
        for slot in c.replicationSlots.withLock({ $0 }) {
            let labels = [("slot", slot.name)]
            e.gauge("telemetry_processor_replication_slot_retained_bytes", labels: labels,
                    help: "WAL the primary keeps for a replication slot (from its restart_lsn to the current position)", value: Double(slot.retainedBytes))
            e.gauge("telemetry_processor_replication_slot_active", labels: labels, help: "1 while a reader is connected to the slot", value: slot.active ? 1 : 0)
            e.gauge("telemetry_processor_replication_slot_lost", labels: labels,
                    help: "1 once the slot passed max_slot_wal_keep_size and lost WAL it needed (its reader must be set up again)", value: slot.walStatus == "lost" ? 1 : 0)
        }
        if let health = c.health.withLock({ $0 }) {
            e.counter("telemetry_processor_silence_alerts_total", help: "Devices found silent (one alert each time one goes silent)", value: health.raised.load(ordering: .relaxed))
            e.counter("telemetry_processor_silence_resolved_total", help: "Silences resolved by the device reporting again", value: health.resolved.load(ordering: .relaxed))
            e.gauge("telemetry_processor_devices_silent", help: "Devices silent at the last check", value: Double(health.silent.load(ordering: .relaxed)))
            e.gauge("telemetry_processor_pipeline_watermark_lag_seconds",
                    help: "How far behind the clock the pipeline's progress (the oldest entry not yet stored) was at the last silence check",
                    value: Double(health.watermarkLagMicros.load(ordering: .relaxed)) / 1e6)
        }
        if let snapshot = c.health.withLock({ $0 })?.quality.withLock({ $0 }) {
            for s in snapshot.worstCompleteness {
                e.gauge("telemetry_processor_quality_completeness_worst_ratio", labels: [("device", s.device), ("metric", s.metric)],
                        help: "The current hour's lowest completeness (readings received over expected), at most 10 series", value: s.value)
            }
            for s in snapshot.worstLateness {
                e.gauge("telemetry_processor_quality_lateness_worst_seconds", labels: [("device", s.device), ("metric", s.metric)],
                        help: "The current hour's highest p99 lateness (stored minus sample time), at most 10 series", value: s.value)
            }
            for s in snapshot.worstRejected {
                e.gauge("telemetry_processor_quality_rejected_worst_samples", labels: [("device", s.device), ("metric", s.metric), ("reason", s.reason)],
                        help: "The current hour's most refused device, metric and reason (samples), at most 10 series", value: s.value)
            }
            for (quantile, value) in [("0.5", snapshot.latenessP50), ("0.99", snapshot.latenessP99)] {
                if let value {
                    e.gauge("telemetry_processor_quality_lateness_seconds", labels: [("quantile", quantile)],
                            help: "Lateness (stored minus sample time) of every sample of the current hour", value: value)
                }
            }
            for (reason, count) in snapshot.rejectedByReason.sorted(by: { $0.key < $1.key }) {
                e.gauge("telemetry_processor_quality_rejected_samples", labels: [("reason", reason)],
                        help: "Samples refused by validation in the current hour, by reason", value: Double(count))
            }
            e.gauge("telemetry_processor_quality_incomplete_series", help: "Series of the current hour below 0.9 completeness",
                    value: Double(snapshot.incompleteSeries))
        }
        if let delivery = c.alertDelivery.withLock({ $0 }) {
            e.counter("telemetry_processor_alert_deliveries_total", help: "Alert events delivered to a target (Alertmanager or a webhook)", value: delivery.delivered.load(ordering: .relaxed))
            e.counter("telemetry_processor_alert_delivery_failures_total", help: "Alert deliveries that failed and will be retried", value: delivery.failures.load(ordering: .relaxed))
        }
        if let lake = c.lake.withLock({ $0 }) {
            e.counter("telemetry_processor_lake_exports_total", help: "UTC days exported to the Parquet lake (again after late rows)", value: lake.exports.load(ordering: .relaxed))
            e.counter("telemetry_processor_lake_rows_total", help: "Rows written to the Parquet lake", value: lake.rowsExported.load(ordering: .relaxed))
            e.counter("telemetry_processor_lake_failures_total", help: "Lake exports (or looks for due days) that failed and will be tried again", value: lake.failures.load(ordering: .relaxed))
            e.gauge("telemetry_processor_lake_days_due", help: "Days complete or changed and not yet exported, at the last look", value: Double(lake.daysDue.load(ordering: .relaxed)))
            e.gauge("telemetry_processor_lake_last_export_timestamp_seconds", help: "When the last lake export finished (Unix time; 0: none yet)",
                    value: Double(lake.lastExportMicros.load(ordering: .relaxed)) / 1e6)
        }
        e.gauge("telemetry_processor_redis_misconfigured", help: "1 when Redis runs without appendonly yes or maxmemory-policy noeviction", value: Double(c.redisMisconfigured.load(ordering: .relaxed)))
    }
}
