import Control
import Processor
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
        e.counter("telemetry_processor_retries_total", help: "Task retries scheduled", value: c.retries.load(ordering: .relaxed))
        e.counter("telemetry_processor_outage_waits_total", help: "Waits for an unreachable PostgreSQL", value: c.outageWaits.load(ordering: .relaxed))
        let byReason = c.deadLettersByReason
        for code in TelemetryError.Code.all {
            e.counter("telemetry_processor_dead_letters_total", labels: [("reason", code.description)],
                      help: "Items moved to the dead-letter stream, by reason", value: byReason[code.description] ?? 0)
        }
        e.gauge("telemetry_processor_redis_up", help: "1 when the last probe reached Redis", value: Double(c.redisReachable.load(ordering: .relaxed)))
        e.gauge("telemetry_processor_postgres_up", help: "1 when the last probe reached PostgreSQL", value: Double(c.postgresReachable.load(ordering: .relaxed)))
        e.gauge("telemetry_processor_redis_misconfigured", help: "1 when Redis runs without appendonly yes or maxmemory-policy noeviction", value: Double(c.redisMisconfigured.load(ordering: .relaxed)))
    }
}
