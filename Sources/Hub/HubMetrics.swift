import Control

/// The hub's metrics, mirrored from its counters at each scrape. Labels are low-cardinality.
enum HubMetrics {
    static func collect(_ hub: HubService, into e: MetricsExporter) {
        let c = hub.counters
        for bus in hub.buses {
            let b = bus.counters
            let labels = [("bus", bus.name)]
            let kindLabels = [("bus", bus.name), ("kind", bus.kind)]
            e.counter("telemetry_hub_samples_read_total", labels: labels, help: "Samples read from a bus", value: b.samplesRead.load(ordering: .relaxed))
            e.counter("telemetry_hub_bus_readings_total", labels: kindLabels, help: "Readings taken on a bus (lines, Modbus polls, measurements)",
                      value: b.readings.load(ordering: .relaxed))
            for (kind, count) in b.errorsByKind.sorted(by: { $0.key < $1.key }) {
                e.counter("telemetry_hub_bus_errors_total", labels: [("bus", bus.name), ("error", kind)], help: "Bus errors by kind", value: count)
            }
            e.counter("telemetry_hub_bus_reconnects_total", labels: labels, help: "Times a bus device was opened again after failing",
                      value: b.reconnects.load(ordering: .relaxed))
            e.gauge("telemetry_hub_bus_connected", labels: labels, help: "1 while a bus device is open",
                    value: b.connected.load(ordering: .relaxed) ? 1 : 0)
            e.counter("telemetry_hub_ring_full_waits_total", labels: labels, help: "Times a bus waited for room in its ring", value: b.ringFullWaits.load(ordering: .relaxed))
            e.gauge("telemetry_hub_ring_occupancy", labels: labels, help: "Samples waiting in a bus's ring", value: Double(bus.ringOccupancy))
            e.gauge("telemetry_hub_ring_capacity", labels: labels, help: "Capacity of a bus's ring, in samples", value: Double(bus.ringCapacity))
        }
        for (reason, count) in hub.deadLetters.reasons.sorted(by: { $0.key < $1.key }) {
            e.counter("telemetry_hub_dead_letters_total", labels: [("reason", reason)], help: "Unreadable device input sent to the dead letters", value: count)
        }
        e.counter("telemetry_hub_dead_letters_dropped_total", help: "Dead letters dropped because their buffer was full while Redis was unreachable",
                  value: hub.deadLetters.dropped.load(ordering: .relaxed))
        e.gauge("telemetry_hub_dead_letters_queued", help: "Dead letters waiting for Redis", value: Double(hub.deadLetters.count))
        e.gauge("telemetry_hub_buffer_batches", help: "Batches waiting between ingest and the publisher", value: Double(hub.bufferDepth))
        e.counter("telemetry_hub_batches_published_total", help: "Batches written to Redis", value: c.batchesPublished.load(ordering: .relaxed))
        e.counter("telemetry_hub_samples_published_total", help: "Samples written to Redis", value: c.samplesPublished.load(ordering: .relaxed))
        e.counter("telemetry_hub_samples_dropped_total", help: "Samples dropped by the drop_oldest buffer policy", value: c.samplesDropped.load(ordering: .relaxed))
        e.counter("telemetry_hub_publish_errors_total", help: "Failed Redis round trips", value: c.publishErrors.load(ordering: .relaxed))
        e.counter("telemetry_hub_publish_unconfirmed_total", help: "Round trips whose XADDs fewer replicas than redis.durable_replicas confirmed in time (spooled)",
                  value: c.unconfirmedRoundTrips.load(ordering: .relaxed))
        e.counter("telemetry_hub_stream_entries_trimmed_total", help: "Stream entries removed by the retention trim",
                  value: c.entriesTrimmed.load(ordering: .relaxed))
        e.counter("telemetry_hub_stream_trimmed_unread_total", help: "Trimmed stream entries a consumer group had not processed",
                  value: c.trimmedUnread.load(ordering: .relaxed))
        e.counter("telemetry_hub_batches_spooled_total", help: "Batches written to the on-disk spool", value: c.batchesSpooled.load(ordering: .relaxed))
        e.counter("telemetry_hub_batches_replayed_total", help: "Spooled batches replayed to Redis", value: c.batchesReplayed.load(ordering: .relaxed))
        e.counter("telemetry_hub_spool_dropped_samples_total", help: "Samples dropped by the drop_oldest spool policy", value: c.spoolDroppedSamples.load(ordering: .relaxed))
        e.gauge("telemetry_hub_spool_records", help: "Batches waiting in the spool", value: Double(c.spoolRecords.load(ordering: .relaxed)))
        e.gauge("telemetry_hub_spool_bytes", help: "Bytes used by the spool", value: Double(c.spoolBytes.load(ordering: .relaxed)))
        e.gauge("telemetry_hub_spool_max_bytes", help: "Spool size limit in bytes", value: Double(hub.configuration.spool.maxBytes))
        e.gauge("telemetry_hub_breaker_open", help: "1 while the Redis circuit breaker is open", value: Double(c.breakerOpen.load(ordering: .relaxed)))
        e.counter("telemetry_hub_http_samples_accepted_total", help: "Samples (lines, points) of POST /v1/samples, /write and /api/v2/write acknowledged durable",
                  value: c.httpSamplesAccepted.load(ordering: .relaxed))
        e.counter("telemetry_hub_http_values_accepted_total", help: "Metric values of POST /v1/samples, /write and /api/v2/write acknowledged durable",
                  value: c.httpValuesAccepted.load(ordering: .relaxed))
        for (reason, count) in c.httpRejected.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            e.counter("telemetry_hub_http_rejected_total", labels: [("reason", reason)], help: "Lines of POST /v1/samples, /write and /api/v2/write rejected, by reason", value: count)
        }
        e.counter("telemetry_hub_line_protocol_string_fields_total", labels: [("outcome", "kept")],
                  help: "String fields of line protocol kept as device labels, or whose line was refused (line_protocol.string_fields)",
                  value: c.stringFieldsKept.load(ordering: .relaxed))
        e.counter("telemetry_hub_line_protocol_string_fields_total", labels: [("outcome", "rejected")],
                  help: "String fields of line protocol kept as device labels, or whose line was refused (line_protocol.string_fields)",
                  value: c.stringFieldsRejected.load(ordering: .relaxed))
        for (key, count) in c.httpResponses.withLock({ $0 }).sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            e.counter("telemetry_hub_http_requests_total", labels: [("route", key[0]), ("status", key[1])],
                      help: "Ingest requests answered, by route and status", value: count)
        }
        for source in hub.mqtt {
            let m = source.counters
            let labels = [("broker", source.configuration.name)]
            e.gauge("telemetry_hub_mqtt_connected", labels: labels, help: "1 once every subscription of the broker's session is acknowledged (SUBACK)",
                    value: Double(m.connected.load(ordering: .relaxed)))
            e.counter("telemetry_hub_mqtt_messages_total", labels: labels + [("outcome", "stored")],
                      help: "MQTT messages acknowledged, by outcome: stored (readings durable) or dead_letter", value: m.stored.load(ordering: .relaxed))
            e.counter("telemetry_hub_mqtt_messages_total", labels: labels + [("outcome", "dead_letter")],
                      help: "MQTT messages acknowledged, by outcome: stored (readings durable) or dead_letter", value: m.deadLettered.load(ordering: .relaxed))
            e.counter("telemetry_hub_mqtt_sessions_total", labels: labels, help: "MQTT sessions established (CONNACK and SUBACK)",
                      value: m.sessions.load(ordering: .relaxed))
            e.counter("telemetry_hub_mqtt_connect_failures_total", labels: labels, help: "MQTT connection attempts that failed before a session",
                      value: m.connectFailures.load(ordering: .relaxed))
            e.gauge("telemetry_hub_mqtt_inflight_messages", labels: labels, help: "MQTT messages received and not yet acknowledged",
                    value: Double(m.inflight.load(ordering: .relaxed)))
        }
        e.gauge("telemetry_hub_redis_misconfigured", help: "1 when Redis runs without appendonly yes or maxmemory-policy noeviction", value: Double(c.redisMisconfigured.load(ordering: .relaxed)))
    }
}
