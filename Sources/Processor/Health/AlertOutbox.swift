import Foundation
import Postgres
import TelemetryCore

/// One outbox event with its alert, as the deliverer sends it.
package struct AlertEvent: Sendable, Equatable {
    package var id: Int64
    /// The id receivers deduplicate by (a UUID: a restored database does not hand it out again).
    package var uid: String
    package var alertID: Int64
    /// `firing` or `resolved`.
    package var kind: String
    package var rule: String
    package var severity: String
    package var device: String
    package var tenant: String
    package var metric: String
    package var tsMicros: Int64
    package var value: Double
    package var resolvedMicros: Int64?
    package var createdMicros: Int64

    /// The webhook body: one event, its id for receivers to deduplicate by.
    package var webhookJSON: [String: Any] {
        var object: [String: Any] = [
            "id": uid, "alert_id": alertID, "kind": kind, "rule": rule, "severity": severity, "device": device,
            "tenant": tenant, "metric": metric, "ts": Timestamp.formatRFC3339(micros: tsMicros), "value": value,
            "event_at": Timestamp.formatRFC3339(micros: createdMicros),
        ]
        if let resolvedMicros { object["resolved_at"] = Timestamp.formatRFC3339(micros: resolvedMicros) }
        return object
    }

    /// Alertmanager's v2 alert: labels identify it (the same when firing and resolved), `endsAt`
    /// says until when it fires.
    package func alertmanagerJSON(endsAtMicros: Int64) -> [String: Any] {
        [
            "labels": ["alertname": rule, "device": device, "tenant": tenant, "metric": metric, "severity": severity, "source": "telemetry"],
            "annotations": ["summary": rule == "silence" ? "device \(device) silent since \(Timestamp.formatRFC3339(micros: tsMicros))"
                                                          : "\(rule) on \(device) \(metric): \(value)",
                            "value": String(value)],
            "startsAt": Timestamp.formatRFC3339(micros: tsMicros),
            "endsAt": Timestamp.formatRFC3339(micros: endsAtMicros),
        ]
    }
}

/// The alert outbox's database side (Docs/alerting.md): events after a target's cursor, the
/// cursor's advance, the silences still firing. Runs on a thread of its own (libpq blocks); one
/// processor delivers at a time (an advisory lock held by this connection).
package actor AlertOutbox {
    private nonisolated let executor: ThreadExecutor
    package nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private let session: SessionConnection
    /// The connection generation that holds the advisory lock (-1: none).
    private var leaderGeneration = -1

    package init(conninfo: String) {
        executor = ThreadExecutor(name: "alert-outbox")
        session = SessionConnection(conninfo: conninfo)
    }

    private func live() throws -> PostgresConnection { try session.live() }

    /// True while this processor is the one delivering (takes the lock when free).
    package func lead(targets: [String]) throws -> Bool {
        let pg = try live()
        if leaderGeneration != session.generation {
            guard try pg.execute("SELECT pg_try_advisory_lock(hashtext('telemetry_alert_delivery'))").rows.first?[0] == "t" else { return false }
            // A new target starts with the last hour's events, not the whole history.
            try pg.query("""
                INSERT INTO alert_targets (target, since_id)
                SELECT t, coalesce((SELECT max(id) FROM alert_events WHERE created_at < now() - interval '1 hour'), 0) FROM unnest($1::text[]) AS t
                ON CONFLICT (target) DO NOTHING
                """, [PostgresText.array(targets)])
            leaderGeneration = session.generation
        }
        return true
    }

    static let columns = """
        e.id, e.uid, e.alert_id, e.kind, a.rule, a.severity, d.name, t.name, m.name, (extract(epoch FROM a.ts) * 1000000)::bigint, a.value,
        (extract(epoch FROM a.resolved_at) * 1000000)::bigint, (extract(epoch FROM e.created_at) * 1000000)::bigint
        """
    static let joins = """
        JOIN alerts a ON a.id = e.alert_id JOIN devices d ON d.id = a.device_id JOIN tenants t ON t.id = d.tenant_id JOIN metrics m ON m.id = a.metric_id
        """

    /// Up to `limit` events not yet delivered to `target`, oldest first (events whose alert is
    /// gone are never delivered). An event committed late, with a lower id than others already
    /// delivered, is still found.
    package func pending(target: String, limit: Int) throws -> [AlertEvent] {
        let rows = try live().query("""
            SELECT \(Self.columns) FROM alert_events e \(Self.joins)
            WHERE e.id > (SELECT since_id FROM alert_targets WHERE target = $1)
              AND NOT EXISTS (SELECT FROM alert_deliveries x WHERE x.target = $1 AND x.event_id = e.id)
            ORDER BY e.id LIMIT $2::int
            """, [target, String(limit)]).rows
        return rows.compactMap(Self.event)
    }

    /// The silences still firing (to post to Alertmanager again).
    package func firingSilences() throws -> [AlertEvent] {
        let rows = try live().execute("""
            SELECT \(Self.columns) FROM alerts a2 CROSS JOIN LATERAL (SELECT * FROM alert_events WHERE alert_id = a2.id AND kind = 'firing' ORDER BY id DESC LIMIT 1) e
            \(Self.joins) WHERE a2.rule = 'silence' AND a2.resolved_at IS NULL
            """).rows
        return rows.compactMap(Self.event)
    }

    /// Records that `target` received `eventID`.
    package func delivered(target: String, event eventID: Int64) throws {
        let pg = try live()
        try pg.query("INSERT INTO alert_deliveries (target, event_id) VALUES ($1, $2::bigint) ON CONFLICT DO NOTHING", [target, String(eventID)])
        try pg.query("UPDATE alert_targets SET delivered_at = now(), attempts = 0, last_error = NULL WHERE target = $1", [target])
    }

    /// Moves `target`'s `since_id` up to the newest event that is delivered (or whose alert is
    /// gone) with every event before it, and older than ten minutes (no storage transaction
    /// stays open that long), and forgets the deliveries below it.
    package func compact(target: String) throws {
        let pg = try live()
        try pg.query("""
            UPDATE alert_targets t SET since_id = greatest(t.since_id, least(
                coalesce((SELECT max(id) FROM alert_events WHERE created_at < now() - interval '10 minutes'), t.since_id),
                coalesce((SELECT min(e.id) - 1 FROM alert_events e WHERE e.id > t.since_id
                            AND EXISTS (SELECT FROM alerts a WHERE a.id = e.alert_id)
                            AND NOT EXISTS (SELECT FROM alert_deliveries x WHERE x.target = t.target AND x.event_id = e.id)), 9223372036854775807)))
            WHERE t.target = $1
            """, [target])
        try pg.query("DELETE FROM alert_deliveries WHERE target = $1 AND event_id <= (SELECT since_id FROM alert_targets WHERE target = $1)", [target])
    }

    /// Records a failed attempt.
    package func failed(target: String, error: String) throws {
        try live().query("UPDATE alert_targets SET attempts = attempts + 1, last_error = $2 WHERE target = $1", [target, String(error.prefix(500))])
    }

    package func close() { session.close() }

    static func event(_ row: [String?]) -> AlertEvent? {
        guard let id = row[0].flatMap({ Int64($0) }), let alert = row[2].flatMap({ Int64($0) }) else { return nil }
        return AlertEvent(id: id, uid: row[1] ?? "\(id)", alertID: alert, kind: row[3] ?? "firing", rule: row[4] ?? "", severity: row[5] ?? "",
                          device: row[6] ?? "", tenant: row[7] ?? "", metric: row[8] ?? "", tsMicros: row[9].flatMap { Int64($0) } ?? 0,
                          value: row[10].flatMap { Double($0) } ?? 0, resolvedMicros: row[11].flatMap { Int64($0) },
                          createdMicros: row[12].flatMap { Int64($0) } ?? 0)
    }
}
