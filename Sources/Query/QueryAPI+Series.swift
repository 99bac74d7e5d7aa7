import Hummingbird
import TelemetryCore

extension QueryAPI {
    /// `GET /v1/series?device=&metric=&from=&to=&step=raw|1m|1h|1d&agg=avg|min|max|sum|count|last`.
    /// A device of another tenant is unknown (404), as one nobody has.
    func series(_ request: Request, tenant: String?) async throws(ReadFailure) -> Answer {
        let query = request.uri.queryParameters
        let device = try QueryParameters.name("device", query["device"].map(String.init))
        let metric = try QueryParameters.name("metric", query["metric"].map(String.init))
        let now = wallClockMicros()
        let to = try QueryParameters.time("to", query["to"].map(String.init)) ?? now
        let from = try QueryParameters.time("from", query["from"].map(String.init)) ?? to - 3_600_000_000
        let step = try QueryParameters.choice("step", query["step"].map(String.init), SeriesStep.allCases.map(\.rawValue), default: nil)
            .flatMap(SeriesStep.init(rawValue:))
        let aggregate = SeriesAggregate(rawValue: try QueryParameters.choice("agg", query["agg"].map(String.init),
                                                                             SeriesAggregate.allCases.map(\.rawValue), default: "avg")!)!
        let plan = try SeriesPlanner.plan(from: from, to: to, step: step, maxPoints: configuration.maxPoints).get()
        let level = try level(request)
        let (sources, lags) = try await self.plan(level)

        // The ids first: an unknown device or metric is a 404 naming it.
        let (ids, provenance) = try await nodes.read(sources, lags: lags, tenant: tenant, """
            SELECT (SELECT id FROM devices WHERE name = $1 AND tenant_id = (SELECT id FROM tenants WHERE name = $3)),
                   (SELECT id FROM metrics WHERE name = $2), (SELECT unit FROM metrics WHERE name = $2)
            """, [device, metric, configuration.tenants.databaseName(tenant)])
        guard let row = ids.rows.first, let deviceID = row[0] else {
            throw ReadFailure(404, "unknown_device", "no device is named \(PrintableName(device))")
        }
        guard let metricID = row[1] else { throw ReadFailure(404, "unknown_metric", "no metric is named \(PrintableName(metric))") }
        let unit = row[2].flatMap { $0.isEmpty ? nil : $0 }
        // The same source serves the points (a replica that answered the ids is tried first).
        // An analytics read never moves to the primary, and an eventual one only under the cap.
        let pointSources: [ReadSource] = if case .replica = provenance.source {
            [provenance.source] + sources.filter { if case .replica = $0 { false } else { true } }
        } else {
            [provenance.source]
        }

        var points: [(ts: Int64, value: Double, count: Int64)] = []
        var chosen: SeriesStep
        var served = provenance
        switch plan {
        case .raw(let limit):
            chosen = .raw
            let (rows, source) = try await nodes.read(pointSources, lags: lags, tenant: tenant, """
                SELECT (extract(epoch FROM ts) * 1000000)::int8, value FROM samples
                WHERE device_id = $1::int AND metric_id = $2::int
                  AND ts >= timestamptz 'epoch' + $3::int8 * interval '1 microsecond'
                  AND ts < timestamptz 'epoch' + $4::int8 * interval '1 microsecond'
                ORDER BY ts LIMIT $5::int + 1
                """, [deviceID, metricID, String(from), String(to), String(limit)])
            served = source
            if rows.rows.count > limit {
                guard step == nil else {
                    throw ReadFailure(400, "too_many_points", "the range holds more than series.max_points (\(limit)) raw samples; use step=1m, 1h or 1d")
                }
                // The planner's own choice of raw overflowed: the finest rollup that fits.
                return try await rollupAnswer(device: device, metric: metric, unit: unit, ids: (deviceID, metricID), from: from, to: to,
                                              aggregate: aggregate, level: level, sources: pointSources, lags: lags, tenant: tenant)
            }
            points = rows.rows.compactMap { row in
                guard let ts = row[0].flatMap({ Int64($0) }), let value = row[1].flatMap({ Double($0) }) else { return nil }
                return (ts, value, 1)
            }
        case .rollup(let rollupStep, let first, _):
            chosen = rollupStep
            (points, served) = try await rollupPoints(step: rollupStep, first: first, to: to, ids: (deviceID, metricID),
                                                      aggregate: aggregate, sources: pointSources, lags: lags, tenant: tenant)
        }
        return seriesAnswer(device: device, metric: metric, unit: unit, step: chosen, aggregate: chosen == .raw ? nil : aggregate,
                            from: from, to: to, points: points, provenance: served, consistency: level.consistency)
    }

    private func rollupAnswer(device: String, metric: String, unit: String?, ids: (String, String), from: Int64, to: Int64,
                              aggregate: SeriesAggregate, level: Level, sources: [ReadSource], lags: ReplicaLags,
                              tenant: String?) async throws(ReadFailure) -> Answer {
        for candidate in [SeriesStep.oneMinute, .oneHour, .oneDay] {
            guard case .success(.rollup(let chosen, let start, _)) = SeriesPlanner.plan(from: from, to: to, step: candidate,
                                                                                         maxPoints: configuration.maxPoints) else { continue }
            let (points, served) = try await rollupPoints(step: chosen, first: start, to: to, ids: ids, aggregate: aggregate, sources: sources, lags: lags,
                                                      tenant: tenant)
            return seriesAnswer(device: device, metric: metric, unit: unit, step: chosen, aggregate: aggregate, from: from, to: to,
                                points: points, provenance: served, consistency: level.consistency)
        }
        throw ReadFailure(400, "too_many_points", "no step keeps the range within series.max_points (\(configuration.maxPoints))")
    }

    /// The buckets of `step` from `first` to `to`: from the rollup table, or for `last` the newest
    /// sample of each bucket.
    private func rollupPoints(step: SeriesStep, first: Int64, to: Int64, ids: (String, String), aggregate: SeriesAggregate,
                              sources: [ReadSource], lags: ReplicaLags, tenant: String?) async throws(ReadFailure)
        -> ([(ts: Int64, value: Double, count: Int64)], Provenance) {
        let width = step.micros!
        if aggregate == .last {
            let (rows, served) = try await nodes.read(sources, lags: lags, tenant: tenant, """
                SELECT b, (array_agg(value ORDER BY ts DESC))[1], count(*) FROM (
                    SELECT ((extract(epoch FROM ts) * 1000000)::int8 - $3::int8) / $5::int8 * $5::int8 + $3::int8 AS b, ts, value FROM samples
                    WHERE device_id = $1::int AND metric_id = $2::int
                      AND ts >= timestamptz 'epoch' + $3::int8 * interval '1 microsecond'
                      AND ts < timestamptz 'epoch' + $4::int8 * interval '1 microsecond') s
                GROUP BY b ORDER BY b
                """, [ids.0, ids.1, String(first), String(to), String(width)])
            return (rows.rows.compactMap { row in
                guard let ts = row[0].flatMap({ Int64($0) }), let value = row[1].flatMap({ Double($0) }),
                      let count = row[2].flatMap({ Int64($0) }) else { return nil }
                return (ts, value, count)
            }, served)
        }
        let (rows, served) = try await nodes.read(sources, lags: lags, tenant: tenant, """
            SELECT (extract(epoch FROM bucket) * 1000000)::int8, count,
                   CASE WHEN abs(sum) <= 1.7976931348623157e308 THEN sum::float8 END, (sum / count)::float8, min, max
            FROM \(step.table!)
            WHERE device_id = $1::int AND metric_id = $2::int
              AND bucket >= timestamptz 'epoch' + $3::int8 * interval '1 microsecond'
              AND bucket < timestamptz 'epoch' + $4::int8 * interval '1 microsecond'
            ORDER BY bucket
            """, [ids.0, ids.1, String(first), String(to)])
        return (rows.rows.compactMap { row in
            guard let ts = row[0].flatMap({ Int64($0) }), let count = row[1].flatMap({ Int64($0) }), count > 0,
                  let average = row[3].flatMap({ Double($0) }), let low = row[4].flatMap({ Double($0) }),
                  let high = row[5].flatMap({ Double($0) }) else { return nil }
            let value: Double
            switch aggregate {
            case .avg: value = average
            case .min: value = low
            case .max: value = high
            // A sum past the float8 range (two values near 1.5e308) is exact in the table but has
            // no JSON number: null.
            case .sum: value = row[2].flatMap({ Double($0) }) ?? .nan
            case .count: value = Double(count)
            case .last: value = .nan  // handled above
            }
            return (ts, value, count)
        }, served)
    }

    private func seriesAnswer(device: String, metric: String, unit: String?, step: SeriesStep, aggregate: SeriesAggregate?, from: Int64, to: Int64,
                              points: [(ts: Int64, value: Double, count: Int64)], provenance: Provenance, consistency: Consistency) -> Answer {
        var json = JSONWriter()
        json.raw("{"); json.key("device"); json.string(device)
        json.raw(","); json.key("metric"); json.string(metric)
        json.raw(","); json.key("unit"); json.optionalString(unit)
        json.raw(","); json.key("step"); json.string(step.rawValue)
        json.raw(","); json.key("agg"); json.optionalString(aggregate?.rawValue)
        json.raw(","); json.key("from"); json.time(from)
        json.raw(","); json.key("to"); json.time(to)
        json.raw(","); json.key("points"); json.raw("[")
        for (index, point) in points.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw("{"); json.key("ts"); json.time(point.ts)
            json.raw(","); json.key("value"); json.number(point.value)
            json.raw(","); json.key("count"); json.number(point.count); json.raw("}")
        }
        json.raw("]}")
        return Answer(body: json.text, provenance: provenance, consistency: consistency, cache: "BYPASS")
    }
}
