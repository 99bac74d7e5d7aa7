import Foundation
import Postgres
import TelemetryCore
import Testing

/// telemetry-query against real servers: the primary, the streaming replica of `make
/// services-test`, Redis, and a processor and hub feeding them (issue 17's acceptance 1 to 3).
typealias QueryServiceTests = ReplicaDrills.QueryServiceTests

extension ReplicaDrills {
@Suite("Query daemon (real primary, streaming replica and Redis)", .serialized)
struct QueryServiceTests {
    /// A client run by the system Python (standard library only), so the reads and writes are
    /// made by an independent HTTP implementation, many at once:
    /// - `reads PORT PATH SECONDS INTERVAL_MS`: GET PATH every interval for SECONDS; prints one
    ///   JSON object per answer: `t` (epoch s), `status`, `source`, `lag`, `cache`.
    /// - `pairs HUB_PORT QUERY_PORT N THREADS PREFIX`: N times, POST one reading of a fresh device
    ///   to the hub, read it at once with an eventual read and then with a session read naming its
    ///   X-Ingest-Token; prints one JSON summary.
    static let client = #"""
    import http.client, json, sys, threading, time, datetime, urllib.parse
    mode = sys.argv[1]
    def get(conn, path):
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body
    if mode == "reads":
        port, path, seconds, interval = int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5]) / 1000
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        end = time.time() + seconds
        while time.time() < end:
            t = time.time()
            try:
                status, headers, _ = get(conn, path)
            except Exception as e:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                print(json.dumps({"t": t, "status": 0, "error": str(e)}), flush=True)
                continue
            print(json.dumps({"t": t, "e": time.time(), "status": status, "source": headers.get("x-data-source"),
                              "lag": float(headers.get("x-data-lag-seconds", "-1")), "cache": headers.get("x-cache-status")}), flush=True)
            time.sleep(interval)
    else:
        hub_port, query_port, n, threads, prefix = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
        lock = threading.Lock()
        counts = {"pairs": 0, "session_ok": 0, "session_missed": 0, "eventual_ok": 0, "eventual_missed": 0, "errors": [], "session_sources": {}}
        todo = list(range(n))
        def worker():
            hub = http.client.HTTPConnection("127.0.0.1", hub_port, timeout=60)
            query = http.client.HTTPConnection("127.0.0.1", query_port, timeout=60)
            while True:
                with lock:
                    if not todo:
                        return
                    i = todo.pop()
                device = "%s_s%d" % (prefix, i)
                ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                value = float(i % 50)
                hub.request("POST", "/v1/samples", json.dumps({"device_id": device, "timestamp": ts, "temperature": value}),
                            {"Content-Type": "application/x-ndjson"})
                r = hub.getresponse()
                r.read()
                token = r.getheader("X-Ingest-Token")
                if r.status != 202 or not token:
                    with lock:
                        counts["errors"].append("POST %d %s" % (r.status, token))
                    continue
                path = "/v1/devices/%s/latest" % urllib.parse.quote(device, safe="")
                def holds(status, body):
                    if status != 200:
                        return False
                    latest = json.loads(body)["metrics"].get("temperature")
                    return latest is not None and latest["ts"] == ts and latest["value"] == value
                status, _, body = get(query, path)
                eventual = holds(status, body)
                status, headers, body = get(query, path + "?after=" + urllib.parse.quote(token) + "&wait_ms=20000")
                session = holds(status, body)
                with lock:
                    counts["pairs"] += 1
                    counts["eventual_ok" if eventual else "eventual_missed"] += 1
                    counts["session_ok" if session else "session_missed"] += 1
                    source = headers.get("x-data-source", "none")
                    counts["session_sources"][source] = counts["session_sources"].get(source, 0) + 1
                    if not session and len(counts["errors"]) < 10:
                        counts["errors"].append("session %d %s" % (status, body[:200]))
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        print(json.dumps(counts))
    """#

    struct Answer: Decodable {
        var t: Double
        /// When the answer arrived.
        var e: Double?
        var status: Int
        var source: String?
        var lag: Double?
        var cache: String?
    }

    static func reads(port: Int, path: String, seconds: Double, intervalMillis: Int = 50) async throws -> [Answer] {
        let script = try HTTPClients.write(client, "query-client.py")
        let (_, output) = try await runTool("/usr/bin/python3", [script, "reads", String(port), path, String(seconds), String(intervalMillis)])
        return output.split(separator: "\n").compactMap { try? JSONDecoder().decode(Answer.self, from: Data($0.utf8)) }
    }

    /// A query daemon over `deployment`'s database with the test replica as `r1`.
    /// With `analytics`, the same replica serves as `a1`, an analytics replica, too.
    /// `replicaPort` nil: the "replicas" are the primary itself (a test that must not depend on
    /// the shared replica's health while the replica drills run).
    static func query(_ deployment: Deployment, name: String, yaml: String = "", environment: [String: String] = [:],
                      analytics: Bool = false, replicaPort: Int? = ReplicaTests.replicaPort) throws -> Daemon {
        let database = deployment.database.name
        let replica = "host=\(TestServers.pgHost) port=\(replicaPort ?? TestServers.pgPort) user=\(TestServers.queryUser) dbname=\(database)"
        let config = """
            postgres:
              url: "host=\(TestServers.pgHost) port=\(TestServers.pgPort) user=\(TestServers.queryUser) dbname=\(database)"
              replicas: [r1\(analytics ? ", a1" : "")]
              replica:
                r1:
                  url: "\(replica)"
            \(analytics ? "    a1:\n      url: \"\(replica)\"\n      role: analytics\n" : "")
            redis:
              key_prefix: \(deployment.prefix)

            """ + yaml
        let path = "\(TestServers.logDirectory)/\(name)-\(deployment.prefix).yaml"
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        return try Daemon("telemetry-query", name: name, environment: environment, arguments: ["--config", path])
    }

    /// `curl -i`: status, headers (lower-case names) and body.
    static func get(_ port: Int, _ path: String) async throws -> (Int, [String: String], String) {
        try await request(port, path)
    }

    /// `curl -i` with an optional bearer token, a POST when there is a `body`: status, headers
    /// (lower-case names) and body.
    static func request(_ port: Int, _ path: String, token: String? = nil, body: String? = nil) async throws -> (Int, [String: String], String) {
        var arguments = ["-s", "-i", "-m", "30"]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        if let body { arguments += ["-X", "POST", "--data-binary", body] }
        let (_, output) = try await runTool("/usr/bin/curl", arguments + ["http://127.0.0.1:\(port)\(path)"])
        let parts = output.components(separatedBy: "\r\n\r\n")
        let head = parts.first?.components(separatedBy: "\r\n") ?? []
        let status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, headers, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// Posts one reading to the hub; returns the ingest token.
    static func post(_ hubPort: Int, device: String, micros: Int64, value: Double) async throws -> String {
        let body = "{\"device_id\":\"\(device)\",\"timestamp\":\"\(formatRFC3339(micros))\",\"temperature\":\(value)}"
        let (_, output) = try await runTool("/usr/bin/curl", ["-s", "-i", "-m", "30", "-X", "POST", "--data-binary", body,
                                                               "http://127.0.0.1:\(hubPort)/v1/samples"])
        #expect(output.hasPrefix("HTTP/1.1 202"), "\(output)")
        let line = output.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("x-ingest-token:") } ?? ""
        return line.split(separator: " ").last.map(String.init) ?? ""
    }

    static func formatRFC3339(_ micros: Int64) -> String { Timestamp.formatRFC3339(micros: micros) }

    @Test("with replay paused no eventual answer carries a lag above 5 s, traffic leaves the replica once its lag passes 5 s and returns read.open_s after replay resumes; a killed replica costs no 5xx")
    func lagBreakerAndKilledReplica() async throws {
        let deployment = try Deployment()
        let processor = try Daemon("telemetry-processor", name: "query-lag-processor", environment: deployment.processorEnvironment())
        let query = try Self.query(deployment, name: "query-lag", yaml: "read:\n  open_s: 3\n  probe_ms: 500\n")
        let port = try await query.httpPort()
        let path = "/v1/devices?limit=1"
        let onReplica = try await eventually(timeout: .seconds(60)) {
            try await Self.get(port, path).1["x-data-source"] == "replica:r1"
        }
        #expect(onReplica, "\(query.tail)\n\(processor.tail)")

        let superuser = try ReplicaTests.replica("postgres", user: "postgres")
        async let answers = Self.reads(port: port, path: path, seconds: 30)
        try await Task.sleep(for: .seconds(1))
        let paused = Date().timeIntervalSince1970
        try superuser.execute("SELECT pg_wal_replay_pause()")
        try await Task.sleep(for: .seconds(9))
        let resumed = Date().timeIntervalSince1970
        try superuser.execute("SELECT pg_wal_replay_resume()")
        // When the replica has caught up again (on a loaded machine replay takes a while).
        let replica = try ReplicaTests.replica(deployment.database.name)
        _ = try await eventually(timeout: .seconds(18), every: .milliseconds(100)) { try ReplicaTests.lag(replica) < 1 }
        let caughtUp = Date().timeIntervalSince1970
        let all = try await answers
        #expect(all.count > 100, "\(all.count) answers")
        #expect(all.allSatisfy { $0.status == 200 }, "\(all.filter { $0.status != 200 }.prefix(5))")
        let maxLag = all.compactMap(\.lag).max() ?? 0
        #expect(maxLag <= 5, "an eventual answer carried X-Data-Lag-Seconds \(maxLag)")
        let fromReplica = all.filter { $0.source == "replica:r1" }
        // Still served while the lag was under 5 s, gone within one probe period (plus scheduling
        // slack) after it passed 5 s, served by the primary meanwhile.
        #expect(fromReplica.contains { $0.t > paused + 1 && $0.t < paused + 4 }, "the replica stopped serving before its lag reached 5 s")
        let lastDuringPause = fromReplica.filter { $0.t > paused && $0.t < resumed }.map(\.t).max() ?? paused
        #expect(lastDuringPause <= paused + 5 + 0.5 + 0.5, "the replica served \(lastDuringPause - paused) s after replay was paused")
        #expect(all.contains { $0.t > paused + 6 && $0.t < resumed && $0.source == "primary" })
        // Back within read.open_s (3 s) of the replica catching up: the breaker that opened about
        // 5 s into the pause stays open 3 s at a time; the first probe after that which sees the
        // lag under 5 s closes it.
        let back = fromReplica.filter { $0.t > resumed }.map(\.t).min()
        #expect(back != nil && back! <= caughtUp + 3 + 2 * 0.5 + 1.5,
                "back \(back.map { $0 - resumed } ?? -1) s after resume, caught up \(caughtUp - resumed) s after resume")
        print("lag breaker: \(all.count) answers, max X-Data-Lag-Seconds \(maxLag), replica left \(String(format: "%.2f", lastDuringPause - paused)) s after the pause, back \(String(format: "%.2f", (back ?? 0) - resumed)) s after resume")

        // A killed replica: every read still answers 200, from the primary.
        async let during = Self.reads(port: port, path: path, seconds: 6)
        try await Task.sleep(for: .seconds(1))
        let killed = Date().timeIntervalSince1970
        try await ReplicaTests.killReplica()
        let afterKill = try await during
        try await ReplicaTests.startReplica()
        #expect(afterKill.count > 40 && afterKill.allSatisfy { $0.status == 200 }, "\(afterKill.filter { $0.status != 200 }.prefix(5))")
        // Answers that arrived after the kill came from the primary.
        let arrivedAfter = afterKill.filter { ($0.e ?? $0.t) > killed + 0.5 }
        let slowest = afterKill.map { ($0.e ?? $0.t) - $0.t }.max() ?? 0
        #expect(arrivedAfter.contains { $0.source == "primary" } && !arrivedAfter.contains { $0.source == "replica:r1" && $0.t > killed + 0.5 },
                "sources after the kill: \(Dictionary(grouping: arrivedAfter, by: { $0.source ?? "none" }).mapValues(\.count)); slowest answer \(slowest) s")
        print("killed replica: \(afterKill.count) answers, all 200, \(arrivedAfter.count) after the kill, slowest \(String(format: "%.2f", slowest)) s")
        let status = try await Self.get(port, "/v1/devices?consistency=analytics")
        #expect(status.0 == 503 && status.2.contains("no_analytics_replica"), "\(status)")
        #expect(await query.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("session reads with the hub's X-Ingest-Token miss nothing against a replica delayed by recovery_min_apply_delay; plain eventual reads miss some")
    func sessionReads() async throws {
        let deployment = try Deployment()
        let processor = try Daemon("telemetry-processor", name: "query-session-processor", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "query-session-hub", environment: ["REDIS_KEY_PREFIX": deployment.prefix,
                                                                                        "SPOOL_DIR": deployment.spoolDirectory,
                                                                                        "INGEST_FLUSH_INTERVAL_MS": "5",
                                                                                        "HTTP_INGEST_MAX_CONCURRENT_REQUESTS": "64"])
        // The cache off: eventual reads go to the (delayed) replica.
        let query = try Self.query(deployment, name: "query-session", yaml: "cache:\n  enabled: false\nread:\n  connections: 8\n")
        let hubPort = try await hub.httpPort()
        let port = try await query.httpPort()
        // The database reaches the replica before the delay is set.
        #expect(try await eventually(timeout: .seconds(120)) { try await Self.get(port, "/v1/devices").1["x-data-source"] == "replica:r1" },
                "\(query.tail)")
        let superuser = try ReplicaTests.replica("postgres", user: "postgres")
        try superuser.execute("ALTER SYSTEM SET recovery_min_apply_delay = '400ms'")
        try superuser.execute("SELECT pg_reload_conf()")
        defer {
            _ = try? superuser.execute("ALTER SYSTEM RESET recovery_min_apply_delay")
            _ = try? superuser.execute("SELECT pg_reload_conf()")
        }
        try await Task.sleep(for: .seconds(2))

        let script = try HTTPClients.write(Self.client, "query-client.py")
        let (status, output) = try await runTool("/usr/bin/python3", [script, "pairs", String(hubPort), String(port), "1000", "24", deployment.prefix])
        #expect(status == 0, "\(output)")
        struct Summary: Decodable {
            var pairs: Int
            var session_ok: Int
            var session_missed: Int
            var eventual_ok: Int
            var eventual_missed: Int
            var errors: [String]
            var session_sources: [String: Int]
        }
        let summary = try JSONDecoder().decode(Summary.self, from: Data(output.utf8))
        print("session reads: \(summary.pairs) pairs, session reads missed \(summary.session_missed), "
              + "plain eventual reads missed \(summary.eventual_missed); session reads served by \(summary.session_sources)")
        #expect(summary.pairs == 1000 && summary.session_ok == 1000 && summary.session_missed == 0, "\(summary)")
        #expect(summary.eventual_missed > 0, "every eventual read saw its write: the replica was not delayed? \(summary)")
        #expect(summary.errors.isEmpty, "\(summary.errors)")
        #expect((summary.session_sources["replica:r1"] ?? 0) > 0, "no session read was served by the replica: \(summary.session_sources)")

        // A token that names batches no processor will ever see: 425 with Retry-After after wait_ms.
        let (late, headers, body) = try await Self.get(port, "/v1/devices/none/latest?after=t1.1.2.bm9uZQ&wait_ms=300")
        #expect(late == 425 && headers["retry-after"] != nil && body.contains("not_yet_committed"), "\(late) \(body)")
        for garbage in ["garbage", "t1.1.1.AA", "t1.1.1." + String(repeating: "YWFh", count: 100), "t1.1.200000.YQ"] {
            let (bad, _, badBody) = try await Self.get(port, "/v1/devices/none/latest?after=\(garbage)")
            #expect(bad == 400 && badBody.contains("after"), "\(garbage): \(badBody)")
        }
        // The most batches a token may name: answered (425), not a 5xx or a long wait.
        let (many, _, manyBody) = try await Self.get(port, "/v1/devices/none/latest?after=t1.1.100000.YQ&wait_ms=0")
        #expect(many == 425, "\(manyBody)")
        #expect(await query.stop() == 0)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("the cache: a racing slow fill never overwrites a newer value written through, and no value older than the primary's is served one TTL after the newer one was committed")
    func cacheRaceAndTTL() async throws {
        let deployment = try Deployment()
        var processor = try Daemon("telemetry-processor", name: "query-cache-processor", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "query-cache-hub", environment: ["REDIS_KEY_PREFIX": deployment.prefix,
                                                                                      "SPOOL_DIR": deployment.spoolDirectory,
                                                                                      "INGEST_FLUSH_INTERVAL_MS": "5"])
        // Every fill waits 1.5 s between its read and its cache write.
        let ttl = 5.0
        let query = try Self.query(deployment, name: "query-cache", yaml: "cache:\n  ttl_s: 5\n",
                                   environment: ["TELEMETRY_FAULT_FILL_DELAY_MS": "1500"])
        let hubPort = try await hub.httpPort()
        let port = try await query.httpPort()
        let db = try deployment.database.connect()
        let device = "\(deployment.prefix)_cached"
        let path = "/v1/devices/\(device)/latest"
        let base = (Int64(Date().timeIntervalSince1970) - 60) * 1_000_000
        func stored(_ connection: PostgresConnection? = nil) throws -> Double? {
            let text: String?? = try (connection ?? db).query("SELECT value FROM readings WHERE device = $1 ORDER BY ts DESC LIMIT 1", [device]).rows.first?[0]
            return text.flatMap { $0 }.flatMap { Double($0) }
        }
        func value(_ body: String) -> Double? {
            guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                  let metrics = object["metrics"] as? [String: Any], let t = metrics["temperature"] as? [String: Any] else { return nil }
            return t["value"] as? Double
        }

        // A device nobody reads gets no cache entry: write-through only updates existing keys.
        let unread = "\(deployment.prefix)_unread"
        _ = try await Self.post(hubPort, device: unread, micros: base, value: 5)
        _ = try await Self.post(hubPort, device: device, micros: base, value: 1)
        // On the replica too, so the fill below reads value 1 wherever it is served.
        var replica: PostgresConnection?
        #expect(try await eventually(timeout: .seconds(30)) {
            replica = try replica ?? ReplicaTests.replica(deployment.database.name)
            return try stored(replica) == 1
        }, "\(processor.tail)")
        // The fill reads value 1 and waits; meanwhile value 2 (a newer sample) is committed and
        // written through; the fill's write must not bring 1 back.
        async let first = Self.get(port, path + "?consistency=eventual")
        try await Task.sleep(for: .milliseconds(300))
        _ = try await Self.post(hubPort, device: device, micros: base + 1_000_000, value: 2)
        #expect(try await eventually(timeout: .seconds(30)) { try stored() == 2 }, "\(processor.tail)")
        let redis = try TestServers.redis()
        #expect(try db.query("SELECT count(*) FROM readings WHERE device = $1", [unread]).rows.first?[0] == "1")
        #expect(try redis.send(["EXISTS", "\(deployment.prefix):latest:\(unread)"]).int == 0, "a write-through created an entry nobody reads")
        let (firstStatus, firstHeaders, firstBody) = try await first
        #expect(firstStatus == 200 && firstHeaders["x-cache-status"] == "MISS", "\(firstStatus) \(firstHeaders) \(firstBody)")
        let (hitStatus, hitHeaders, hitBody) = try await Self.get(port, path)
        #expect(hitStatus == 200 && hitHeaders["x-cache-status"] == "HIT" && hitHeaders["x-data-source"] == "cache", "\(hitHeaders) \(hitBody)")
        #expect(value(hitBody) == 2, "the slow fill overwrote the newer value: \(hitBody)")
        let age = Double(hitHeaders["x-data-lag-seconds"] ?? "") ?? -1
        #expect(age >= 0 && age < ttl, "X-Data-Lag-Seconds \(age)")
        for consistency in ["strong", "session"] {
            let (_, headers, _) = try await Self.get(port, path + "?consistency=\(consistency)")
            #expect(headers["x-cache-status"] == "BYPASS" && headers["x-consistency-level"] == consistency, "\(headers)")
        }

        // A lost write-through (the processor restarted with cache.enabled false): the cache may
        // serve the older value for less than one TTL after the newer one is committed, never longer.
        #expect(await processor.stop() == 0)
        processor = try Daemon("telemetry-processor", name: "query-cache-processor-2",
                               environment: deployment.processorEnvironment(extra: ["CACHE_ENABLED": "false"]))
        _ = try await Self.get(port, path)  // a hit: the entry is complete
        _ = try await Self.post(hubPort, device: device, micros: base + 2_000_000, value: 3)
        #expect(try await eventually(timeout: .seconds(30), every: .milliseconds(20)) { try stored() == 3 }, "\(processor.tail)")
        let committed = Date().timeIntervalSince1970
        var stale: [(Double, Double?)] = []
        var sawNew = false
        while Date().timeIntervalSince1970 < committed + ttl + 4 {
            let (status, _, body) = try await Self.get(port, path)
            let now = Date().timeIntervalSince1970
            #expect(status == 200, "\(body)")
            if value(body) == 3 { sawNew = true } else if now > committed + ttl { stale.append((now - committed, value(body))) }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(stale.isEmpty, "older values served more than one TTL after the newer one was committed: \(stale)")
        #expect(sawNew)
        #expect(await query.stop() == 0)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("series: sums past the float8 range answer null (avg stays exact), rollup steps and raw agree on counts, bad input is a 400 naming its parameter")
    func seriesExtremes() async throws {
        let deployment = try Deployment()
        let processor = try Daemon("telemetry-processor", name: "query-series-processor", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "query-series-hub", environment: ["REDIS_KEY_PREFIX": deployment.prefix,
                                                                                       "SPOOL_DIR": deployment.spoolDirectory,
                                                                                       "INGEST_FLUSH_INTERVAL_MS": "5"])
        let query = try Self.query(deployment, name: "query-series", replicaPort: nil)
        let hubPort = try await hub.httpPort()
        let port = try await query.httpPort()
        let device = "\(deployment.prefix)_big"
        let minute = (Int64(Date().timeIntervalSince1970) / 60 - 10) * 60_000_000
        var body = ""
        for (offset, value) in [(1, 1.5e308), (2, 1.5e308), (3, -1.0)] {
            body += "{\"device_id\":\"\(device)\",\"timestamp\":\"\(Self.formatRFC3339(minute + Int64(offset) * 1_000_000))\",\"big\":\(value)}\n"
        }
        let (_, posted) = try await runTool("/usr/bin/curl", ["-s", "-w", "%{http_code}", "--data-binary", body, "http://127.0.0.1:\(hubPort)/v1/samples"])
        #expect(posted.hasSuffix("202"), "\(posted)")
        let db = try deployment.database.connect()
        #expect(try await eventually(timeout: .seconds(30)) { try db.query("SELECT count(*) FROM readings WHERE device = $1", [device]).rows.first?[0] == "3" },
                "\(processor.tail)")
        let range = "from=\(Self.formatRFC3339(minute))&to=\(Self.formatRFC3339(minute + 60_000_000))"
        func points(_ extra: String) async throws -> (Int, [[String: Any]], String) {
            let (status, _, text) = try await Self.get(port, "/v1/series?device=\(device)&metric=big&\(range)&\(extra)")
            let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            return (status, object?["points"] as? [[String: Any]] ?? [], text)
        }
        let (sumStatus, sums, sumText) = try await points("step=1m&agg=sum")
        #expect(sumStatus == 200 && sums.count == 1 && sums.first?["value"] is NSNull && (sums.first?["count"] as? Int) == 3, "\(sumText)")
        let (_, averages, averageText) = try await points("step=1m&agg=avg")
        let average = averages.first?["value"] as? Double ?? 0
        #expect(abs(average - 1.5e308 / 3 * 2) / 1e308 < 1e-12, "\(averageText)")  // (1.5e308 + 1.5e308 - 1) / 3
        for step in ["1h", "1d"] {
            let (_, counts, text) = try await points("step=\(step)&agg=count")
            #expect((counts.first?["value"] as? Double) == 3, "\(step): \(text)")
        }
        let (_, raw, rawText) = try await points("step=raw")
        #expect(raw.count == 3 && (raw.last?["value"] as? Double) == -1, "\(rawText)")
        let (_, last, lastText) = try await points("step=1m&agg=last")
        #expect((last.first?["value"] as? Double) == -1 && (last.first?["count"] as? Int) == 3, "\(lastText)")
        for (path, parameter) in [("/v1/series?device=\(device)&metric=big&step=2m", "step"), ("/v1/series?device=\(device)&metric=big&agg=median", "agg"),
                                  ("/v1/series?device=\(device)&metric=big&from=2026-02-30T00:00:00Z", "from"),
                                  ("/v1/series?device=\(device)&metric=big&to=1e308", "to"), ("/v1/series?metric=big", "device"),
                                  ("/v1/devices?stale_for=99999999999999999999d", "stale_for"), ("/v1/devices?limit=0", "limit"),
                                  ("/v1/alerts?since=2026-12-03T00:00:00Z&until=2026-12-02T00:00:00Z", "since")] {
            let (status, _, text) = try await Self.get(port, path)
            #expect(status == 400 && text.contains(parameter), "\(path): \(status) \(text)")
        }
        let (tooMany, _, tooManyText) = try await Self.get(port, "/v1/series?device=\(device)&metric=big&step=1m&from=2000-01-01T00:00:00Z")
        #expect(tooMany == 400 && tooManyText.contains("too_many_points"), "\(tooManyText)")
        #expect(await query.stop() == 0)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("alerts page by cursor without skipping or repeating alerts that share a sample time, the default window does not move between pages; a bad cursor is a 400")
    func alertsPaging() async throws {
        let deployment = try Deployment()
        let processor = try Daemon("telemetry-processor", name: "query-alerts-processor", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "query-alerts-hub", environment: ["REDIS_KEY_PREFIX": deployment.prefix,
                                                                                       "SPOOL_DIR": deployment.spoolDirectory,
                                                                                       "INGEST_FLUSH_INTERVAL_MS": "5"])
        let query = try Self.query(deployment, name: "query-alerts", replicaPort: nil)
        let hubPort = try await hub.httpPort()
        let port = try await query.httpPort()
        let device = "\(deployment.prefix)_hot"
        let start = (Int64(Date().timeIntervalSince1970) - 600) * 1_000_000
        // Five readings, alternately over two thresholds and back (an alert marks entering the
        // breach): six alerts, two per sample time. And one of another device 6 s inside the
        // default window (the last 24 hours): the oldest, on the last page.
        let old = wallClockMicros() - 86_400_000_000 + 6_000_000
        let body = (0..<5).map { n in
            "{\"device_id\":\"\(device)\",\"timestamp\":\"\(Self.formatRFC3339(start + Int64(n) * 1_000_000))\","
                + (n % 2 == 0 ? "\"temperature\":70,\"humidity\":99}" : "\"temperature\":20,\"humidity\":50}")
        }.joined(separator: "\n") + "\n{\"device_id\":\"\(device)_old\",\"timestamp\":\"\(Self.formatRFC3339(old))\",\"temperature\":70}"
        let (_, posted) = try await runTool("/usr/bin/curl", ["-s", "-w", "%{http_code}", "--data-binary", body, "http://127.0.0.1:\(hubPort)/v1/samples"])
        #expect(posted.hasSuffix("202"), "\(posted)")
        let db = deployment.database
        #expect(try await eventually(timeout: .seconds(30)) { try db.scalar("SELECT count(*) FROM alerts") == 7 }, "\(processor.tail)")
        var ids: [Int] = []
        var cursor: String?
        var pages = 0
        repeat {
            let (status, _, text) = try await Self.get(port, "/v1/alerts?device=\(device)&limit=4" + (cursor.map { "&cursor=\($0)" } ?? ""))
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            #expect(status == 200, "\(text)")
            ids += (object?["alerts"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
            cursor = object?["next_cursor"] as? String
            pages += 1
        } while cursor != nil && pages < 10
        #expect(ids.count == 6 && Set(ids).count == 6 && pages == 2, "\(ids) in \(pages) pages")
        // Across devices, without since: the second page is asked for once the old alert has left
        // a window counted from the clock; the first page's window still holds it.
        let (_, _, firstText) = try await Self.get(port, "/v1/alerts?limit=4")
        let first = try JSONSerialization.jsonObject(with: Data(firstText.utf8)) as? [String: Any]
        let next = try #require(first?["next_cursor"] as? String, "\(firstText)")
        try await Task.sleep(for: .milliseconds(max(0, (old + 86_400_000_000 - wallClockMicros()) / 1000 + 1000)))
        let (_, _, secondText) = try await Self.get(port, "/v1/alerts?limit=4&cursor=\(next)")
        let second = (try JSONSerialization.jsonObject(with: Data(secondText.utf8)) as? [String: Any])?["alerts"] as? [[String: Any]] ?? []
        #expect(second.count == 3 && second.last?["device"] as? String == "\(device)_old", "\(secondText)")
        for bad in ["x", "1_", "_1", "1_2_x", "1_2_3_4", "99999999999999999999_1"] {
            let (status, _, text) = try await Self.get(port, "/v1/alerts?cursor=\(bad)")
            #expect(status == 400 && text.contains("cursor"), "\(bad): \(text)")
        }
        #expect(await query.stop() == 0)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("on a non-loopback address without a token every read is refused (403); with a token a read needs it (401 without); health needs none")
    func authentication() async throws {
        let deployment = try Deployment()
        let open = try Self.query(deployment, name: "query-open", environment: ["HTTP_HOST": "0.0.0.0"])
        let openPort = try await open.httpPort()
        #expect(try await eventually(timeout: .seconds(30)) { try await open.get("/ready").0 == 200 }, "\(open.tail)")
        for path in ["/v1/devices", "/v1/devices/x/latest", "/v1/series?device=x&metric=y", "/v1/alerts"] {
            let (status, _, body) = try await Self.get(openPort, path)
            #expect(status == 403 && body.contains("unauthenticated_reads_disabled"), "\(path): \(status) \(body)")
        }
        #expect(await open.stop() == 0)

        let token = "query-test-token-0123456789"
        let guarded = try Self.query(deployment, name: "query-guarded", environment: ["HTTP_HOST": "0.0.0.0", "HTTP_QUERY_TOKEN": token])
        let port = try await guarded.httpPort()
        #expect(try await eventually(timeout: .seconds(30)) { try await guarded.get("/ready").0 == 200 }, "\(guarded.tail)")
        let (anonymous, headers, body) = try await Self.get(port, "/v1/devices")
        #expect(anonymous == 401 && headers["www-authenticate"]?.hasPrefix("Bearer") == true && body.contains("unauthorized"), "\(body)")
        let (_, wrong) = try await runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(token)x",
                                                              "http://127.0.0.1:\(port)/v1/devices"])
        let (_, right) = try await runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: bearer \(token)",
                                                              "http://127.0.0.1:\(port)/v1/devices"])
        // Past authentication (this database was never migrated: no processor ran, so 503).
        #expect(wrong == "401" && right != "401" && right != "403", "wrong token \(wrong), right token \(right)")
        #expect(await guarded.stop() == 0)
    }
}
}
