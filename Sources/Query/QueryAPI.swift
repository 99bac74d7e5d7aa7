import Control
import Foundation
import Hummingbird
import Logging
import NIOCore
import Postgres
import Redis
import TelemetryConfiguration
import TelemetryCore

/// The read API (Docs/query-api.md, Docs/openapi.yaml): `GET /v1/devices`,
/// `/v1/devices/{device}/latest`, `/v1/series` and `/v1/alerts`, each routed by consistency
/// level. Every data answer carries `X-Data-Source`, `X-Data-Lag-Seconds`,
/// `X-Consistency-Level` and `X-Cache-Status`; every error is JSON with a reason code.
struct QueryAPI: Sendable {
    let configuration: QueryConfiguration
    let nodes: ReadNodes
    let latest: LatestReader
    let counters: QueryCounters
    let logger: Logger

    static let routes = [HTTPEndpoints.Route(.get, "/v1/devices"), HTTPEndpoints.Route(.get, "/v1/devices/{device}/latest"),
                         HTTPEndpoints.Route(.get, "/v1/series"), HTTPEndpoints.Route(.get, "/v1/alerts")]

    static let dataSource = HTTPFields.Element.Name("X-Data-Source")!
    static let dataLag = HTTPFields.Element.Name("X-Data-Lag-Seconds")!
    static let consistencyLevel = HTTPFields.Element.Name("X-Consistency-Level")!
    static let cacheStatus = HTTPFields.Element.Name("X-Cache-Status")!

    /// A data answer: its JSON body and its provenance headers.
    struct Answer {
        var body: String
        var provenance: Provenance
        var consistency: Consistency
        var cache: String
    }

    /// Adds the routes to `router`; returns them. Without a token on a non-loopback `host` (and
    /// unless `http.query.allow_unauthenticated`), every read is refused with 403: anyone who can
    /// reach the port would read the plant's history.
    func register(_ router: Router<BasicRequestContext>, host: String) -> [HTTPEndpoints.Route] {
        if !configuration.tenants.hasTokens && !LoopbackHost.contains(host) {
            guard configuration.allowUnauthenticated else {
                logger.error("read routes refused: the query daemon listens on a non-loopback address without a token",
                             metadata: ["http_host": "\(host)", "fix": "set http.query.token (or token_file), or http.query.allow_unauthenticated: true"])
                let refused: @Sendable (Request, BasicRequestContext) async -> Response = { _, _ in
                    Self.error(ReadFailure(403, "unauthenticated_reads_disabled",
                                           "this query daemon listens on \(host) without http.query.token; reads are refused until a token is configured"))
                }
                for route in ["v1/devices", "v1/devices/{device}/latest", "v1/series", "v1/alerts"] { router.get(RouterPath(route), use: refused) }
                return Self.routes
            }
            logger.warning("reads are served without authentication on a non-loopback address (http.query.allow_unauthenticated)",
                           metadata: ["http_host": "\(host)"])
        }
        let anonymous = configuration.allowUnauthenticated || LoopbackHost.contains(host)
        router.get("v1/devices", use: handler("/v1/devices", anonymous) { (request, _, tenant) async throws(ReadFailure) in
            try await devices(request, tenant: tenant)
        })
        router.get("v1/devices/{device}/latest", use: handler("/v1/devices/{device}/latest", anonymous) { (request, context, tenant) async throws(ReadFailure) in
            try await latest(request, device: context.parameters.get("device"), tenant: tenant)
        })
        router.get("v1/series", use: handler("/v1/series", anonymous) { (request, _, tenant) async throws(ReadFailure) in
            try await series(request, tenant: tenant)
        })
        router.get("v1/alerts", use: handler("/v1/alerts", anonymous) { (request, _, tenant) async throws(ReadFailure) in
            try await alerts(request, tenant: tenant)
        })
        return Self.routes
    }

    /// Authenticates (the token names the tenant the read acts for; nil: the default tenant), runs
    /// `answer`, and turns it (or its failure) into the response.
    private func handler(_ route: String, _ anonymous: Bool,
                         _ answer: @escaping @Sendable (Request, BasicRequestContext, String?) async throws(ReadFailure) -> Answer)
        -> @Sendable (Request, BasicRequestContext) async -> Response {
        { [self] request, context in
            let started = ContinuousClock.now
            var response: Response
            guard case .tenant(let tenant) = configuration.tenants.authenticate(request.headers[.authorization], anonymous: anonymous) else {
                response = Self.error(ReadFailure(401, "unauthorized", "this endpoint needs Authorization: Bearer <token>"))
                response.headers[.wwwAuthenticate] = #"Bearer realm="telemetry-query""#
                counters.countResponse(route: route, status: 401)
                return response
            }
            do throws(ReadFailure) {
                let result = try await answer(request, context, tenant)
                response = Response(status: .ok, headers: [.contentType: "application/json"],
                                    body: .init(byteBuffer: ByteBuffer(string: result.body)))
                response.headers[Self.dataSource] = result.provenance.source.description
                response.headers[Self.dataLag] = String(format: "%.3f", max(0, result.provenance.lagSeconds))
                response.headers[Self.consistencyLevel] = result.consistency.rawValue
                response.headers[Self.cacheStatus] = result.cache
            } catch {
                response = Self.error(error)
            }
            let elapsed = ContinuousClock.now - started
            counters.duration.observe(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            counters.countResponse(route: route, status: Int(response.status.code))
            return response
        }
    }

    static func error(_ failure: ReadFailure) -> Response {
        var response = HTTPEndpoints.jsonResponse(HTTPResponse.Status(code: failure.status), ["error": failure.code, "message": failure.message])
        if let retryAfter = failure.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }

    // MARK: - Consistency

    /// The request's consistency level, its ingest token and how long a session read may wait.
    struct Level {
        var consistency: Consistency
        var token: IngestToken?
        var waitMillis: Int
    }

    func level(_ request: Request) throws(ReadFailure) -> Level {
        let query = request.uri.queryParameters
        let parameter = query["consistency"].map(String.init)
        let header = request.headers[Self.consistencyLevel]
        let levels = "not one of \(Consistency.allCases.map(\.rawValue).joined(separator: ", "))"
        // Each one given must name a level, even when the parameter wins over the header.
        if let header, Consistency.requested(parameter: nil, header: header) == .some(nil) {
            throw QueryParameters.bad("X-Consistency-Level", levels)
        }
        guard let requested = Consistency.requested(parameter: parameter, header: header), var consistency = requested else {
            throw QueryParameters.bad("consistency", levels)
        }
        var token: IngestToken?
        if let after = query["after"].map(String.init) {
            guard let parsed = IngestToken(parsing: after) else {
                throw QueryParameters.bad("after", "not an ingest token (the X-Ingest-Token of a hub's 202 answer)")
            }
            token = parsed
            if parameter == nil && header == nil { consistency = .session }
            guard consistency == .session || consistency == .strong else {
                throw QueryParameters.bad("after", "a token is waited for by consistency=session (or strong), not \(consistency.rawValue)")
            }
        }
        let wait = try QueryParameters.integer("wait_ms", query["wait_ms"].map(String.init), default: configuration.sessionWaitMillis,
                                               in: 0...configuration.maxSessionWaitMillis)
        return Level(consistency: consistency, token: token, waitMillis: wait)
    }

    /// The sources a read at `level` tries, in order; for a session read with a token, the first
    /// node found to hold its batches (then the primary), waiting up to `wait_ms`.
    func plan(_ level: Level) async throws(ReadFailure) -> ([ReadSource], ReplicaLags) {
        let (replicas, lags) = nodes.routerView()
        let plan = ReadRouter.plan(level.consistency, latest: false, cache: false, replicas: replicas)
        if level.consistency == .analytics && plan.isEmpty {
            throw ReadFailure(503, "no_analytics_replica", "no analytics replica is healthy; analytics reads never run on the primary", retryAfter: 5)
        }
        guard let token = level.token else { return (plan, lags) }
        return (try await sessionPlan(token, plan: plan, lags: lags, waitMillis: level.waitMillis), lags)
    }

    /// Polls the plan's nodes for the token's batches: each replica for about its lag (plus a
    /// second), then the primary until `waitMillis` is spent; 425 when none has them by then.
    func sessionPlan(_ token: IngestToken, plan: [ReadSource], lags: ReplicaLags, waitMillis: Int) async throws(ReadFailure) -> [ReadSource] {
        let deadline = ContinuousClock.now + .milliseconds(waitMillis)
        // The keys are made on the server: three scalars travel per check, whatever the count.
        let check = """
            SELECT count(*) = $3::int8 - $2::int8 + 1 FROM ingested_batches
            WHERE batch_id = ANY (SELECT 'hub:' || $1::text || '-' || g FROM generate_series($2::int8, $3::int8) AS g)
            """
        let parameters: [String?] = [token.prefix, String(token.first), String(token.last)]
        for source in plan {
            guard case .replica(let name) = source, let replica = nodes.replicas.first(where: { $0.monitor.name == name }) else { continue }
            let until = min(deadline, ContinuousClock.now + .milliseconds(Int64(((lags[name]?.bound ?? 0) + 1) * 1000)))
            var pause = Duration.milliseconds(10)
            while true {
                do {
                    guard let rows = try await replica.pool.query(check, parameters, queueTimeout: .milliseconds(50)) else { break }
                    if rows.rows.first?[0] == "t" {
                        counters.countSession("replica")
                        return [source, .primary]
                    }
                } catch {
                    // As for reads: only a lost or refused connection counts against the replica.
                    if error.isConnectionError { replica.monitor.readFailed("\(error)") }
                    break
                }
                guard ContinuousClock.now + pause < until else { break }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(100))
            }
        }
        var pause = Duration.milliseconds(10)
        while true {
            // A primary whose connections are all busy has not answered "no": wait and ask again.
            // It is always asked at least once (wait_ms=0 included).
            let left = max(deadline - ContinuousClock.now, .milliseconds(50))
            if let rows = try await nodes.onPrimaryIfFree(check, parameters, queueTimeout: min(left, nodes.queueTimeout)),
               rows.rows.first?[0] == "t" {
                counters.countSession("primary")
                return [.primary]
            }
            guard ContinuousClock.now + pause < deadline else { break }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(100))
        }
        counters.countSession("not_yet")
        throw ReadFailure(425, "not_yet_committed",
                          "the token's \(token.last - token.first + 1) batch(es) are not all committed yet (still on their way through Redis); retry, or wait longer with wait_ms",
                          retryAfter: 1)
    }

    // MARK: - Routes

    /// `GET /v1/devices/{device}/latest[?metrics=a,b]`.
    /// A device of another tenant is unknown (404), as one nobody has.
    func latest(_ request: Request, device raw: String?, tenant: String?) async throws(ReadFailure) -> Answer {
        guard let raw, let decoded = raw.removingPercentEncoding else { throw QueryParameters.bad("device", "not a valid percent-encoded name") }
        let device = try QueryParameters.name("device", decoded)
        let query = request.uri.queryParameters
        var wanted: [String]?
        if let list = query["metrics"].map(String.init) {
            let names = list.split(separator: ",", omittingEmptySubsequences: true).map(String.init)
            guard !names.isEmpty, names.count <= 1024 else { throw QueryParameters.bad("metrics", "a comma-separated list of 1 to 1024 metric names") }
            for name in names { _ = try QueryParameters.name("metrics", name) }
            wanted = names
        }
        let level = try level(request)
        var read: LatestRead
        var cacheStatus = "BYPASS"
        if level.consistency == .eventual && latest.enabled {
            if let cached = await latest.cached(device, tenant: tenant), cached.complete {
                counters.countCache("HIT")
                let age = cached.writtenMillis.map { Double(wallClockMicros() / 1000) - Double($0) }.map { $0 / 1000 } ?? 0
                read = LatestRead(known: true, entries: cached.entries, provenance: Provenance(source: .cache, lagSeconds: age))
                cacheStatus = "HIT"
            } else {
                counters.countCache("MISS")
                let (plan, lags) = try await plan(level)
                read = try await latest.fill(device, tenant: tenant, plan: plan, lags: lags)
                cacheStatus = "MISS"
            }
        } else {
            counters.countCache("BYPASS")
            let (plan, lags) = try await plan(level)
            read = try await latest.read(device, tenant: tenant, plan: plan, lags: lags)
        }
        guard read.known else { throw ReadFailure(404, "unknown_device", "no device is named \(PrintableName(device))") }
        if let wanted {
            let present = Set(read.entries.map(\.metric))
            if let absent = wanted.first(where: { !present.contains($0) }) {
                throw ReadFailure(404, "unknown_metric", "device \(PrintableName(device)) has no value of metric \(PrintableName(absent))")
            }
            let keep = Set(wanted)
            read.entries.removeAll { !keep.contains($0.metric) }
        }
        var json = JSONWriter()
        json.raw("{")
        json.key("device"); json.string(device)
        json.raw(","); json.key("metrics"); json.raw("{")
        for (index, entry) in read.entries.enumerated() {
            if index > 0 { json.raw(",") }
            json.key(entry.metric)
            json.raw("{"); json.key("value"); json.number(entry.value)
            json.raw(","); json.key("ts"); json.time(entry.timestampMicros); json.raw("}")
        }
        json.raw("}}")
        return Answer(body: json.text, provenance: read.provenance, consistency: level.consistency, cache: cacheStatus)
    }

    /// `GET /v1/devices[?stale_for=10m&limit=&cursor=]`: devices with their metrics, units and
    /// last-seen times, by name, a page at a time.
    func devices(_ request: Request, tenant: String?) async throws(ReadFailure) -> Answer {
        let query = request.uri.queryParameters
        let staleFor = try QueryParameters.duration("stale_for", query["stale_for"].map(String.init))
        let limit = try QueryParameters.integer("limit", query["limit"].map(String.init), default: min(1000, configuration.maxListLimit),
                                                in: 1...configuration.maxListLimit)
        let cursor = query["cursor"].map(String.init)
        if let cursor { _ = try QueryParameters.name("cursor", cursor) }
        let level = try level(request)
        let (plan, lags) = try await plan(level)
        // A page of devices first (bounded), then their metrics.
        let (rows, provenance) = try await nodes.read(plan, lags: lags, tenant: tenant, """
            WITH page AS (
                SELECT d.id, d.name, (SELECT max(ts) FROM latest_values WHERE device_id = d.id) AS seen
                FROM devices d
                WHERE d.tenant_id = (SELECT id FROM tenants WHERE name = $4)
                  AND ($1::text IS NULL OR d.name > $1)
                  AND ($2::int8 IS NULL OR coalesce((SELECT max(ts) FROM latest_values WHERE device_id = d.id), '-infinity')
                                           < clock_timestamp() - $2::int8 * interval '1 microsecond')
                ORDER BY d.name LIMIT $3::int + 1)
            SELECT p.name, (extract(epoch FROM p.seen) * 1000000)::int8, m.name, m.unit, (extract(epoch FROM l.ts) * 1000000)::int8
            FROM page p LEFT JOIN latest_values l ON l.device_id = p.id LEFT JOIN metrics m ON m.id = l.metric_id
            ORDER BY p.name, m.name
            """, [cursor, staleFor.map(String.init), String(limit), configuration.tenants.databaseName(tenant)])
        var json = JSONWriter()
        json.raw("{"); json.key("devices"); json.raw("[")
        var current: String?
        var listed = 0
        var next: String?
        for row in rows.rows {
            guard let name = row[0] else { continue }
            if name != current {
                if listed == limit {
                    next = current
                    break
                }
                if current != nil { json.raw("]},") }
                current = name
                listed += 1
                json.raw("{"); json.key("device"); json.string(name)
                json.raw(","); json.key("last_seen")
                if let seen = row[1].flatMap({ Int64($0) }) { json.time(seen) } else { json.raw("null") }
                json.raw(","); json.key("metrics"); json.raw("[")
            } else {
                json.raw(",")
            }
            if let metric = row[2], let seen = row[4].flatMap({ Int64($0) }) {
                json.raw("{"); json.key("name"); json.string(metric)
                json.raw(","); json.key("unit"); json.optionalString(row[3].flatMap { $0.isEmpty ? nil : $0 })
                json.raw(","); json.key("last_seen"); json.time(seen); json.raw("}")
            } else if json.text.hasSuffix(",") {
                json.text.removeLast()
            }
        }
        if current != nil { json.raw("]}") }
        json.raw("],"); json.key("next_cursor"); json.optionalString(next)
        json.raw("}")
        return Answer(body: json.text, provenance: provenance, consistency: level.consistency, cache: "BYPASS")
    }

    /// `GET /v1/alerts?device=&since=&until=&limit=`: newest first.
    func alerts(_ request: Request, tenant: String?) async throws(ReadFailure) -> Answer {
        let query = request.uri.queryParameters
        let device = try query["device"].map { name throws(ReadFailure) in try QueryParameters.name("device", String(name)) }
        let now = wallClockMicros()
        let givenUntil = try QueryParameters.time("until", query["until"].map(String.init))
        let givenSince = try QueryParameters.time("since", query["since"].map(String.init))
        // `<ts µs>_<id>` of the last alert of the previous page (alerts sharing its time are not
        // skipped), and `_<since µs>` when the first page took the default window: the later
        // pages keep that lower bound instead of moving it with the clock.
        var after: (ts: Int64, id: Int64)?
        var cursorSince: Int64?
        if let cursor = query["cursor"].map(String.init) {
            let parts = cursor.split(separator: "_", omittingEmptySubsequences: false)
            guard parts.count == 2 || parts.count == 3, let ts = Int64(parts[0]), let id = Int64(parts[1]),
                  parts.count == 2 || Int64(parts[2]) != nil else {
                throw QueryParameters.bad("cursor", "not a cursor of this route (the next_cursor of the previous page)")
            }
            after = (ts, id)
            cursorSince = parts.count == 3 ? Int64(parts[2]) : nil
        }
        let since = givenSince ?? cursorSince ?? (givenUntil ?? now) - 86_400_000_000
        let until = givenUntil ?? Int64.max / 2
        guard since < until else { throw QueryParameters.bad("since", "must be before until") }
        let limit = try QueryParameters.integer("limit", query["limit"].map(String.init), default: min(1000, configuration.maxListLimit),
                                                in: 1...configuration.maxListLimit)
        // Rows lie in [since, until): a cursor outside that range means the same page as its
        // bound, and keeps the SQL's timestamp arithmetic in range.
        if let cursor = after { after = (min(max(cursor.ts, since - 1), min(until, 9_000_000_000_000_000)), cursor.id) }
        let level = try level(request)
        let (plan, lags) = try await plan(level)
        let (rows, provenance) = try await nodes.read(plan, lags: lags, tenant: tenant, """
            WITH t AS (SELECT id FROM tenants WHERE name = $7),
            dev AS (SELECT id FROM devices WHERE name = $1 AND tenant_id = (SELECT id FROM t))
            SELECT 'device' AS kind, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
            WHERE $1::text IS NOT NULL AND NOT EXISTS (SELECT FROM dev)
            UNION ALL (
            SELECT 'alert', a.id::text, d.name, m.name, (extract(epoch FROM a.ts) * 1000000)::int8::text, a.value::text, a.rule, a.severity,
                   (extract(epoch FROM a.created_at) * 1000000)::int8::text
            FROM alerts a JOIN devices d ON d.id = a.device_id JOIN metrics m ON m.id = a.metric_id
            WHERE d.tenant_id = (SELECT id FROM t)
              AND ($1::text IS NULL OR a.device_id = (SELECT id FROM dev))
              AND a.ts >= timestamptz 'epoch' + $2::int8 * interval '1 microsecond'
              AND a.ts < timestamptz 'epoch' + least($3::int8, 9000000000000000) * interval '1 microsecond'
              AND ($5::int8 IS NULL OR (a.ts, a.id) < (timestamptz 'epoch' + $5::int8 * interval '1 microsecond', $6::int8))
            ORDER BY a.ts DESC, a.id DESC LIMIT $4::int)
            """, [device, String(since), String(until), String(limit), after.map { String($0.ts) }, after.map { String($0.id) },
                configuration.tenants.databaseName(tenant)])
        if rows.rows.first?[0] == "device", let device {
            throw ReadFailure(404, "unknown_device", "no device is named \(PrintableName(device))")
        }
        var json = JSONWriter()
        json.raw("{"); json.key("alerts"); json.raw("[")
        var last: String?
        for (index, row) in rows.rows.enumerated() {
            guard let id = row[1], let deviceName = row[2], let metric = row[3], let ts = row[4].flatMap({ Int64($0) }),
                  let value = row[5].flatMap({ Double($0) }), let created = row[8].flatMap({ Int64($0) }) else { continue }
            if index > 0 { json.raw(",") }
            json.raw("{"); json.key("id"); json.raw(id)
            json.raw(","); json.key("device"); json.string(deviceName)
            json.raw(","); json.key("metric"); json.string(metric)
            json.raw(","); json.key("ts"); json.time(ts)
            json.raw(","); json.key("value"); json.number(value)
            json.raw(","); json.key("rule"); json.string(row[6] ?? "")
            json.raw(","); json.key("severity"); json.string(row[7] ?? "")
            json.raw(","); json.key("created_at"); json.time(created)
            json.raw("}")
            last = "\(ts)_\(id)" + (givenSince == nil ? "_\(since)" : "")
        }
        json.raw("],"); json.key("next_cursor"); json.optionalString(rows.rows.count == limit ? last : nil)
        json.raw("}")
        return Answer(body: json.text, provenance: provenance, consistency: level.consistency, cache: "BYPASS")
    }
}
