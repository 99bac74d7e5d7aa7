import Foundation
import Redis
import TelemetryCore
import Testing

/// HTTP clients: curl in the project's retrying shell loop, and Python sockets for clients that
/// misbehave slowly.
enum HTTPClients {
    /// The project's retrying client (`Deploy/dev/post-samples.sh URL FILE…`): a curl loop that
    /// retries 429 and 503 as a well-behaved client does.
    static var load: String {
        TestServers.root.appendingPathComponent("Deploy/dev/post-samples.sh").path
    }

    /// `slow.py HOST PORT headers N SECONDS`: N connections trickle a header forever; prints how
    /// many the server closed and when. `slow.py HOST PORT body 1 SECONDS`: one request trickles
    /// its body; prints the status line of the answer.
    static let slow = #"""
    import socket, sys, time
    host, port, mode, n, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    start = time.time()
    if mode == "headers":
        sockets = []
        for _ in range(n):
            s = socket.create_connection((host, port))
            s.sendall(b"POST /v1/samples HTTP/1.1\r\nHost: hub\r\nX-Slow: ")
            s.setblocking(False)
            sockets.append(s)
        live, closed = set(sockets), []
        while live and time.time() - start < limit:
            for s in list(live):
                try:
                    if s.recv(4096) == b"":
                        raise OSError("closed")
                    s.send(b"a")
                except BlockingIOError:
                    try:
                        s.send(b"a")
                    except OSError:
                        live.discard(s); closed.append(time.time() - start)
                except OSError:
                    live.discard(s); closed.append(time.time() - start)
            time.sleep(0.2)
        print("closed %d of %d" % (len(closed), n), flush=True)
    else:
        s = socket.create_connection((host, port))
        s.sendall(b"POST /v1/samples HTTP/1.1\r\nHost: hub\r\nContent-Length: 100000\r\n\r\n")
        s.setblocking(False)
        answer = b""
        while time.time() - start < limit and b"\r\n" not in answer:
            try:
                chunk = s.recv(4096)
                if chunk == b"":
                    break
                answer += chunk
            except BlockingIOError:
                pass
            try:
                s.send(b"{")
            except OSError:
                pass
            time.sleep(0.2)
        print((answer.split(b"\r\n")[0] or b"no answer").decode(), flush=True)
    """#

    static func write(_ script: String, _ name: String) throws -> String {
        let path = "\(TestServers.logDirectory)/\(name)"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// `curl` once: (status, body, headers).
    static func post(_ url: String, body file: String, headers: [String] = [], extra: [String] = []) async throws -> (Int, String, String) {
        let headerFile = "\(TestServers.logDirectory)/curl-headers-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: headerFile) }
        var arguments = ["-s", "-m", "60", "-D", headerFile, "-w", "\n%{http_code}", "--data-binary", "@\(file)"]
        for header in headers { arguments += ["-H", header] }
        let (_, output) = try await runTool("/usr/bin/curl", arguments + extra + [url])
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let received = (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? ""
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"), received)
    }
}

@Suite("HTTP ingest (real Redis and PostgreSQL)", .serialized)
struct HTTPIngestTests {
    @Test("100 000 samples as NDJSON from curl arrive exactly once, while a 10 MB body, a gzip bomb, invalid UTF-8 and slow clients are turned away")
    func loadAndAbuse() async throws {
        let deployment = try Deployment()
        let p = deployment.prefix
        let processor = try Daemon("telemetry-processor", name: "http-processor", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "http-hub", environment: deployment.hubEnvironment(sensors: 1, readings: 1, rate: 1, extra: [
            "SIMULATED_ENABLED": "false", "HTTP_IDLE_TIMEOUT_MS": "2000", "HTTP_INGEST_BODY_TIMEOUT_MS": "2000",
        ]))
        let url = "http://127.0.0.1:\(try await hub.httpPort())/v1/samples"
        let directory = "\(TestServers.logDirectory)/../http-\(p)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        // 100 000 samples in 20 requests of 5 000 lines: 200 devices, timestamps unique per device,
        // values 0 … 99 999 (a metric without a valid range, so each one is stored).
        let requests = 20, lines = 5000, base = wallClockMicros() / 1000 - 3_600_000
        var files: [String] = []
        for r in 0..<requests {
            var text = ""
            for l in 0..<lines {
                let i = r * lines + l
                text += #"{"device_id":"\#(p)_d\#(i % 200)","timestamp":\#(base + Int64(i)),"load":\#(i)}"# + "\n"
            }
            let file = "\(directory)/load-\(r).ndjson"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            files.append(file)
        }
        // Abusive bodies: 10 MB of NDJSON, a gzip bomb (5 MiB of blanks in a few KiB), invalid UTF-8.
        let big = "\(directory)/big.ndjson"
        try String(repeating: #"{"device_id":"\#(p)_big","timestamp":1,"temperature":1}"# + "\n", count: 10_000_000 / 52)
            .write(toFile: big, atomically: true, encoding: .utf8)
        let bomb = "\(directory)/bomb.gz"
        _ = try await runTool("/bin/sh", ["-c", "head -c 5242880 /dev/zero | tr '\\0' ' ' | gzip -c > \(bomb)"])
        let garbage = "\(directory)/garbage.ndjson"
        try Data([0xFF, 0xFE, 0x7B, 0x0A] + Array(#"{"device_id":"\#(p)_\#u{00E9}","timestamp":1,"t":1}"#.utf8).dropLast(3) + [0xC3, 0x28, 0x0A])
            .write(to: URL(fileURLWithPath: garbage))

        let loadScript = HTTPClients.load
        let slowScript = try HTTPClients.write(HTTPClients.slow, "http-slow.py")
        let port = String(try await hub.httpPort())
        let started = ContinuousClock.now
        // Four well-behaved clients share the load; the others misbehave at the same time.
        async let clients = withThrowingTaskGroup(of: (Int32, String).self) { group in
            for c in 0..<4 {
                let mine = stride(from: c, to: files.count, by: 4).map { files[$0] }
                group.addTask { try await runTool("/bin/bash", [loadScript, url] + mine) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        async let loris = runTool("/usr/bin/env", ["python3", slowScript, "127.0.0.1", port, "headers", "50", "15"])
        async let trickle = runTool("/usr/bin/env", ["python3", slowScript, "127.0.0.1", port, "body", "1", "15"])
        async let tooBig = HTTPClients.post(url, body: big)
        async let tooBigChunked = HTTPClients.post(url, body: big, headers: ["Transfer-Encoding: chunked"])
        async let bombed = HTTPClients.post(url, body: bomb, headers: ["Content-Encoding: gzip"])
        async let invalid = HTTPClients.post(url, body: garbage)

        let results = try await clients
        let loadSeconds = (ContinuousClock.now - started).totalSeconds
        for (status, output) in results { #expect(status == 0 && output.hasSuffix("done\n"), "\(output)\n\(hub.tail)") }
        let retries = results.reduce(0) { $0 + $1.1.split(separator: "\n").filter { $0.hasPrefix("retry") }.count }

        let (_, lorisOutput) = try await loris
        #expect(lorisOutput == "closed 50 of 50\n", "slow-loris connections were not closed by the idle timeout: \(lorisOutput)")
        let (_, trickleOutput) = try await trickle
        #expect(trickleOutput.hasPrefix("HTTP/1.1 408"), "a trickled body was not timed out: \(trickleOutput)")
        for (what, (status, body, _)) in [("10 MB", try await tooBig), ("10 MB chunked", try await tooBigChunked), ("gzip bomb", try await bombed)] {
            #expect(status == 413 && body.contains(#""error":"too_large""#), "\(what): \(status) \(body)")
        }
        let (invalidStatus, invalidBody, _) = try await invalid
        #expect(invalidStatus == 400 && invalidBody.contains(#""accepted":0"#) && invalidBody.contains(#""reason":"invalid_utf8""#),
                "invalid UTF-8: \(invalidStatus) \(invalidBody)")

        let total = requests * lines
        let stored = try await deployment.database.expectStoredOnce(total, "hub:\n\(hub.tail)\nprocessor:\n\(processor.tail)")
        let db = deployment.database
        #expect(try db.scalar("SELECT sum(value)::bigint FROM samples") == (total - 1) * total / 2)
        #expect(try db.scalar("SELECT count(DISTINCT device_id) FROM samples") == 200)
        #expect(try await hub.metric("telemetry_hub_http_samples_accepted_total") == Double(total))
        #expect(try await hub.metric("telemetry_hub_http_requests_total{route=\"/v1/samples\",status=\"413\"}") == 3)
        print("""
            http ingest: \(total) samples in \(requests) NDJSON requests of \(lines) lines from 4 curl clients: \
            all acknowledged (202) in \(String(format: "%.2f", loadSeconds)) s = \(Int(Double(total) / loadSeconds)) samples/s \
            (\(retries) retries after 429/503), all committed after \(String(format: "%.2f", (stored - started).totalSeconds)) s; \
            binaries in \(TestServers.binDirectory)
            """)
        #expect(await hub.stop() == 0, "\(hub.tail)")
        #expect(await processor.stop() == 0)
    }

    @Test("bearer token, 400 with the valid lines kept, 415, POST /v1/tasks, and backpressure: 202 only when durable, then 503 and 429 while Redis is down and the spool is full of acknowledged samples, which drop_oldest never drops")
    func statusesAndBackpressure() async throws {
        let redis = try RedisServer()
        let deployment = try Deployment()
        let p = deployment.prefix
        let token = "s3cret-token-for-the-test"
        let onRedis = ["REDIS_PORT": String(redis.port)]
        let processor = try Daemon("telemetry-processor", name: "http-status-processor", environment: deployment.processorEnvironment(extra: onRedis))
        let hub = try Daemon("telemetry-hub", name: "http-status-hub", environment: deployment.hubEnvironment(sensors: 1, readings: 1, rate: 1, extra: onRedis.merging([
            "SIMULATED_ENABLED": "false", "HTTP_INGEST_TOKEN": token, "HTTP_INGEST_ACK_TIMEOUT_MS": "1000",
            "INGEST_BUFFER_BATCHES": "4", "SPOOL_MAX_BYTES": "4096", "SPOOL_SEGMENT_BYTES": "4096", "SPOOL_FULL_POLICY": "drop_oldest",
        ]) { $1 }))
        let base = "http://127.0.0.1:\(try await hub.httpPort())"
        let auth = "Authorization: Bearer \(token)"
        let directory = "\(TestServers.logDirectory)/../http-\(p)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func file(_ name: String, _ text: String) throws -> String {
            let path = "\(directory)/\(name)"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let ms = wallClockMicros() / 1000 - 60_000

        // 401 without the token or with another one, on both routes.
        let one = try file("one.ndjson", #"{"device_id":"\#(p)_one","timestamp":\#(ms),"temperature":20}"#)
        var (status, body, headers) = try await HTTPClients.post("\(base)/v1/samples", body: one)
        #expect(status == 401 && body.contains(#""error":"unauthorized""#) && headers.lowercased().contains("www-authenticate: bearer"), "\(status) \(body)")
        (status, body, _) = try await HTTPClients.post("\(base)/v1/samples", body: one, headers: ["Authorization: Bearer wrong-token-of-some-length"])
        #expect(status == 401, "\(status) \(body)")
        (status, body, _) = try await HTTPClients.post("\(base)/v1/tasks", body: one)
        #expect(status == 401, "\(status) \(body)")

        // 400: the valid lines are accepted and stored, each invalid one named with its reason.
        let mixed = try file("mixed.json", """
            [{"device_id":"\(p)_mixed","timestamp":"\(Timestamp.formatRFC3339(micros: ms * 1000))","temperature":21.5,"humidity":40,"raw_data":"x"},
             {"device_id":"\(p)_mixed","timestamp":\(ms + 1)},
             {"device_id":"\(p)_mixed","timestamp":\(ms + 2),"temperature":"hot"},
             42,
             {"device_id":"\(p)_mixed","timestamp":\(ms + 3),"pressure":1001.5}]
            """)
        (status, body, _) = try await HTTPClients.post("\(base)/v1/samples", body: mixed, headers: [auth, "Content-Type: application/json"])
        #expect(status == 400, "\(status) \(body)")
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(answer["accepted"] as? Int == 2 && answer["values"] as? Int == 3, "\(body)")
        let rejected = (answer["rejected"] as? [[String: Any]] ?? []).map { "\($0["line"] ?? "") \($0["reason"] ?? "")" }
        #expect(rejected == ["2 missing_field", "3 invalid_field", "4 malformed_json"], "\(body)")
        // gzip: two members are one body; a cut stream is refused whole (none of its lines is taken).
        let gzipped = "\(directory)/two-members.gz"
        let gzipLine = { (n: Int) in #"{"device_id":"\#(p)_gz","timestamp":\#(ms + Int64(n)),"temperature":\#(n)}"# }
        _ = try await runTool("/bin/sh", ["-c", "(echo '\(gzipLine(1))' | gzip -c; echo '\(gzipLine(2))' | gzip -c) > \(gzipped); head -c -6 \(gzipped) > \(gzipped).cut"])
        (status, body, _) = try await HTTPClients.post("\(base)/v1/samples", body: gzipped, headers: [auth, "Content-Encoding: gzip"])
        #expect(status == 202 && body.contains(#""accepted":2"#), "\(status) \(body)")
        (status, body, _) = try await HTTPClients.post("\(base)/v1/samples", body: gzipped + ".cut", headers: [auth, "Content-Encoding: gzip"])
        #expect(status == 400 && body.contains(#""error":"bad_encoding""#), "\(status) \(body)")
        // 413 for a request that makes more batches than the hub's buffer holds (4 here): it could never fit.
        let wide = try file("wide.ndjson", (0..<40).map { #"{"device_id":"\#(p)_w\#($0)","timestamp":\#(ms),"temperature":1}"# }.joined(separator: "\n"))
        (status, body, _) = try await HTTPClients.post("\(base)/v1/samples", body: wide, headers: [auth])
        #expect(status == 413 && body.contains("split it"), "\(status) \(body)")
        // 415 for an encoding the hub does not speak; a task in the seed's JSON: 400 when invalid, 202 when queued.
        (status, body, _) = try await HTTPClients.post("\(base)/v1/samples", body: one, headers: [auth, "Content-Encoding: br"])
        #expect(status == 415, "\(status) \(body)")
        let badTask = try file("bad-task.json", #"{"id":"t1","type":"telemetry.unknown","payload":{}}"#)
        (status, body, _) = try await HTTPClients.post("\(base)/v1/tasks", body: badTask, headers: [auth])
        #expect(status == 400 && body.contains(#""error":"unknown_type""#), "\(status) \(body)")
        let task = try file("task.json", """
            {"id":"550e8400-e29b-41d4-a716-446655440000","type":"telemetry.analyze","priority":"HIGH",
             "payload":{"device_id":"\(p)_task","timestamp":"\(Timestamp.formatRFC3339(micros: ms * 1000))","temperature":23.5,"humidity":65.2,"pressure":1013.25}}
            """)
        (status, body, _) = try await HTTPClients.post("\(base)/v1/tasks", body: task, headers: [auth])
        #expect(status == 202 && body.contains("550e8400"), "\(status) \(body)")
        let db = deployment.database
        #expect(try await eventually(timeout: .seconds(30)) { try db.scalar("SELECT count(*) FROM samples") == 8 }, "\(processor.tail)")

        // Redis goes away. Requests are acknowledged while the spool takes them (fsync'd); once it
        // is full of acknowledged samples, which drop_oldest must not drop, admitted requests are
        // not confirmed (503) and then the buffer is full (429, with Retry-After).
        await redis.stop()
        var statuses: [Int: [Int]] = [:]
        var retryAfter = false
        for k in 0..<60 {
            var text = ""
            for l in 0..<10 { text += #"{"device_id":"\#(p)_r\#(k)","timestamp":\#(ms + Int64(l)),"temperature":\#(l)}"# + "\n" }
            (status, body, headers) = try await HTTPClients.post("\(base)/v1/samples", body: try file("r\(k).ndjson", text), headers: [auth])
            statuses[status, default: []].append(k)
            if status == 429 {
                retryAfter = headers.lowercased().contains("retry-after: 1")
                #expect(body.contains(#""error":"busy""#), "\(body)")
                break
            }
        }
        let acknowledged = statuses[202] ?? []
        #expect(acknowledged.count >= 2, "\(statuses)\n\(hub.tail)")
        #expect((statuses[503] ?? []).count >= 1, "\(statuses)\n\(hub.tail)")
        #expect((statuses[429] ?? []).count == 1 && retryAfter, "\(statuses)\n\(hub.tail)")
        #expect(Set(statuses.keys).isSubset(of: [202, 503, 429]), "\(statuses)")
        #expect(try await hub.metric("telemetry_hub_spool_dropped_samples_total") == 0)

        // Redis is back: every acknowledged request is stored, exactly once; the one turned away
        // with 429 never entered the hub.
        try redis.start()
        for k in acknowledged {
            let device = "\(p)_r\(k)"
            #expect(try await eventually(timeout: .seconds(60)) {
                try db.scalar("SELECT count(*) FROM samples s JOIN devices d ON d.id = s.device_id WHERE d.name = '\(device)'") == 10
            }, "request \(k) was acknowledged but not stored:\n\(hub.tail)\n\(processor.tail)")
        }
        for k in statuses[429] ?? [] {
            #expect(try db.scalar("SELECT count(*) FROM samples s JOIN devices d ON d.id = s.device_id WHERE d.name = '\(p)_r\(k)'") == 0)
        }
        #expect(try db.scalar("SELECT count(*) FROM (SELECT 1 FROM samples GROUP BY device_id, metric_id, ts HAVING count(*) > 1) d") == 0)
        #expect(await hub.stop() == 0, "\(hub.tail)")
        #expect(await processor.stop() == 0)
        await redis.stop()
    }

    @Test("in a network namespace of its own, a hub on 0.0.0.0 without a token answers ingest 403 with JSON; with a token it asks for it (401); allow_unauthenticated serves it")
    func unauthenticatedIngestOnAllInterfaces() async throws {
        // A namespace with only its own loopback: 0.0.0.0 there reaches nothing outside.
        let deployment = try Deployment()
        let script = #"""
            set -u
            ip link set lo up
            probe() {  # $1 label, $2 port, then environment assignments for the hub
                label=$1; port=$2; shift 2
                env HTTP_HOST=0.0.0.0 HTTP_PORT="$port" "$@" "$HUB" >"$LOGS/netns-hub-$label.log" 2>&1 &
                pid=$!
                i=0
                until curl -s -o /dev/null "http://127.0.0.1:$port/health"; do
                    i=$((i + 1)); [ $i -gt 300 ] && break; sleep 0.05
                done
                printf '%s ' "$label"
                curl -s -m 10 -w ' %{http_code}\n' -X POST -H 'Content-Type: application/x-ndjson' \
                    --data-binary "{\"device_id\":\"netns_1\",\"timestamp\":$(date +%s)000,\"temperature\":21.5}" "http://127.0.0.1:$port/v1/samples"
                kill -INT $pid; wait $pid
            }
            probe open 18181
            probe token 18182 HTTP_INGEST_TOKEN=netns-test-token-0123456789
            probe allowed 18183 HTTP_INGEST_ALLOW_UNAUTHENTICATED=true
            """#
        let (status, output) = try await runTool("/usr/bin/unshare", ["--net", "/bin/sh", "-c", script], environment: [
            "HUB": "\(TestServers.binDirectory)/telemetry-hub", "LOGS": TestServers.logDirectory, "REDIS_KEY_PREFIX": deployment.prefix,
            "SIMULATED_ENABLED": "true", "SIMULATED_SENSORS": "1", "SIMULATED_READINGS": "1", "SPOOL_DIR": deployment.spoolDirectory, "RUNTIME_DIRECTORY": "\(deployment.spoolDirectory)-rt",
        ])
        #expect(status == 0, "\(output)")
        let lines = Dictionary(output.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: " ", maxSplits: 1)
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }) { $1 }
        #expect(lines["open"]?.hasSuffix(" 403") == true && lines["open"]?.contains("unauthenticated_ingest_disabled") == true, "\(output)")
        #expect(lines["token"]?.hasSuffix(" 401") == true, "\(output)")
        // Served: no Redis is reachable from the namespace, so the sample is spooled (202).
        #expect(lines["allowed"]?.hasSuffix(" 202") == true, "\(output)")
        let log = (try? String(contentsOfFile: "\(TestServers.logDirectory)/netns-hub-open.log", encoding: .utf8)) ?? ""
        #expect(log.contains("ingest routes refused"), "\(log.suffix(2000))")
    }
}
