import Foundation
import Postgres
import Redis
import SystemSupport
import TelemetryCore

/// The hub beside the peers it stands in for, in one run (Docs/performance.md, section `peers`):
///
/// - **Line protocol**: the same corpus (`points` points over 1 000 series, `lines` lines per
///   request) posted by `clients` concurrent curl loops to the hub's `POST /write` and to an influxd
///   1.6 the bench starts on loopback (data under `<run>/runs/peers/influxd`), counted when
///   acknowledged (204: the hub's points in Redis, with AOF; influxd's in its WAL, fsync'd per write).
/// - **MQTT**: `messages` QoS 1 messages published by `mosquitto_pub` through a Mosquitto the
///   bench starts, end to end to committed rows through the hub and a processor, against
///   Mosquitto's own rate to a plain `mosquitto_sub` (QoS 1) in the same run.
struct PeersBench {
    let servers: BenchServers
    let binDirectory: String

    struct Outcome: Sendable {
        var points: Int
        var hubPointsPerSecond: Double
        var influxPointsPerSecond: Double
        var hubRetries: Int
        /// The same bodies through the hub's line-protocol parser and mapping, in process, one thread.
        var parsePerSecond: Double
        var messages: Int
        var mqttEndToEndPerSecond: Double
        var mosquittoSubPerSecond: Double
    }

    func run(points: Int, lines: Int, clients: Int, messages: Int) async throws -> Outcome {
        for tool in ["/usr/bin/influxd", "/usr/sbin/mosquitto", "/usr/bin/mosquitto_pub", "/usr/bin/mosquitto_sub"] {
            guard FileManager.default.isExecutableFile(atPath: tool) else { throw BenchError("\(tool) is missing: `make deps-bench` installs influxdb, mosquitto and mosquitto-clients") }
        }
        let workDir = "\(servers.runDirectory)/runs/peers"
        try? FileManager.default.removeItem(atPath: workDir)
        try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
        let servers = self.servers
        try await blocking { _ = try RedisConnection(endpoint: servers.redis).send(["FLUSHALL"]) }

        // The corpus: 1 000 series (device × site), timestamps unique per series, one float field.
        let requests = (points + lines - 1) / lines
        let base = (wallClockMicros() / 1_000_000 - 3600) * 1_000_000_000
        var files: [String] = []
        for r in 0..<requests {
            var text = ""
            text.reserveCapacity(lines * 72)
            for l in 0..<min(lines, points - r * lines) {
                let i = r * lines + l
                text += "plant,device_id=peer_\(i % 1000),site=s\(i % 10) load=\(Double(i % 5000) / 8) \(base + Int64(i / 1000) * 1_000_000 + Int64(i % 1000))\n"
            }
            let file = "\(workDir)/body-\(r).lp"
            try text.write(toFile: file, atomically: false, encoding: .utf8)
            files.append(file)
        }

        // influxd first (so the hub's Redis is idle meanwhile), then the hub.
        let influx = try await startInfluxd(workDir: workDir)
        let influxRate: Double
        do {
            defer { influx.kill() }
            (influxRate, _) = try await post(files: files, url: "http://127.0.0.1:\(influx.port)/write?db=bench&precision=ns", clients: clients,
                                            workDir: workDir, tag: "influxd")
        }
        let hubPort = try LoopbackPort.free()
        let hub = try Daemon.start(binary: "\(binDirectory)/telemetry-hub", name: "peers-hub", config: """
            redis: { host: 127.0.0.1, port: \(servers.redisPort), key_prefix: bench_peers }
            spool: { dir: \(workDir)/spool }
            simulated: { enabled: false }
            http: { port: \(hubPort) }
            log: { level: warning }
            """, directory: workDir, environment: [:])
        let (hubRate, retries): (Double, Int)
        do {
            defer { hub.kill() }
            try await waitReady(port: hubPort, daemon: hub)
            (hubRate, retries) = try await post(files: files, url: "http://127.0.0.1:\(hubPort)/write?db=bench&precision=ns", clients: clients,
                                               workDir: workDir, tag: "hub")
        }
        let parse = try await blocking { [files] in
            let bodies = files.compactMap { FileManager.default.contents(atPath: $0).map { Array($0) } }
            let clock = ContinuousClock()
            var parsed = 0
            let elapsed = clock.measure {
                for body in bodies {
                    parsed += LineProtocolDocument.parse(body, nanosPerUnit: 1, mapping: LineProtocolMapping(), nowMicros: 0).samples.readings.count
                }
            }
            guard parsed == points else { throw BenchError("the parser read \(parsed) of \(points) points") }
            return Double(parsed) / elapsed.totalSeconds
        }
        let (endToEnd, subscriber) = try await mqtt(messages: messages, workDir: workDir)
        return Outcome(points: points, hubPointsPerSecond: hubRate, influxPointsPerSecond: influxRate, hubRetries: retries, parsePerSecond: parse,
                       messages: messages, mqttEndToEndPerSecond: endToEnd, mosquittoSubPerSecond: subscriber)
    }

    /// Posts every file once, `clients` curl loops at a time, each retrying 429 and 503; returns
    /// points per second and the retries.
    private func post(files: [String], url: String, clients: Int, workDir: String, tag: String) async throws -> (Double, Int) {
        let loop = """
            url=$1; shift; retries=0
            for f in "$@"; do
              while true; do
                code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary "@$f" -H 'Content-Type: text/plain' "$url")
                [ "$code" = 204 ] && break
                if [ "$code" = 429 ] || [ "$code" = 503 ]; then retries=$((retries+1)); sleep 0.05; continue; fi
                echo "status $code for $f"; exit 1
              done
            done
            echo "retries $retries"
            """
        let lines = files.reduce(0) { total, file in total + ((try? String(contentsOfFile: file, encoding: .utf8))?.split(separator: "\n").count ?? 0) }
        let started = ContinuousClock.now
        let running = try (0..<clients).map { c in
            let mine = stride(from: c, to: files.count, by: clients).map { files[$0] }
            return try HTTPBench.Client(tool: "/bin/bash", arguments: ["-c", loop, "post", url] + mine, log: "\(workDir)/\(tag)-client-\(c).log")
        }
        let outputs = try await blocking { running.map { $0.wait() } }
        let seconds = (ContinuousClock.now - started).totalSeconds
        for (status, output) in outputs where status != 0 { throw BenchError("a \(tag) client failed: \(output.suffix(500))") }
        let retries = outputs.reduce(0) { $0 + (Int($1.output.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0) }
        return (Double(lines) / seconds, retries)
    }

    private struct Influxd {
        let process: Process
        let port: Int
        func kill() { if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) } }
    }

    private func startInfluxd(workDir: String) async throws -> Influxd {
        let port = try LoopbackPort.free()
        let rpc = try LoopbackPort.free()
        let data = "\(workDir)/influxd"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/influxd")
        process.arguments = ["run"]
        // Defaults otherwise: the WAL is fsync'd on every write (wal-fsync-delay 0s).
        process.environment = ["INFLUXDB_HTTP_BIND_ADDRESS": "127.0.0.1:\(port)", "INFLUXDB_BIND_ADDRESS": "127.0.0.1:\(rpc)",
                               "INFLUXDB_META_DIR": "\(data)/meta", "INFLUXDB_DATA_DIR": "\(data)/data", "INFLUXDB_DATA_WAL_DIR": "\(data)/wal",
                               "INFLUXDB_REPORTING_DISABLED": "true", "INFLUXDB_HTTP_LOG_ENABLED": "false", "INFLUXDB_MONITOR_STORE_ENABLED": "false",
                               "INFLUXDB_HTTP_MAX_BODY_SIZE": "0"]
        let log = "\(workDir)/influxd.log"
        guard FileManager.default.createFile(atPath: log, contents: nil), let handle = FileHandle(forWritingAtPath: log) else { throw BenchError("cannot write \(log)") }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let influx = Influxd(process: process, port: port)
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let (_, code) = try await curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-XPOST", "http://127.0.0.1:\(port)/query", "--data-urlencode", "q=CREATE DATABASE bench"])
            if code == "200" { return influx }
            guard ContinuousClock.now < deadline, process.isRunning else { influx.kill(); throw BenchError("influxd did not start; see \(log)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// MQTT: end to end through the hub and a processor to committed rows, against Mosquitto to `mosquitto_sub`.
    private func mqtt(messages: Int, workDir: String) async throws -> (Double, Double) {
        let port = try LoopbackPort.free()
        let conf = "\(workDir)/mosquitto.conf"
        try """
            user root
            listener \(port) 127.0.0.1
            allow_anonymous true
            max_inflight_messages 1000
            max_queued_messages 10000000
            """.write(toFile: conf, atomically: true, encoding: .utf8)
        let broker = try HTTPBench.Client(tool: "/usr/sbin/mosquitto", arguments: ["-c", conf], log: "\(workDir)/mosquitto.log")
        defer { broker.terminate() }  // the broker dies with its listener; nothing waits for it
        try await Task.sleep(for: .milliseconds(300))
        let base = wallClockMicros() / 1000 - 3_600_000
        // In files of 10 000 lines: `mosquitto_pub -l` does not wait for acknowledgements while it
        // reads, and Mosquitto drops a client that floods it with many more.
        var chunks: [String] = []
        for start in stride(from: 0, to: messages, by: 10_000) {
            var text = ""
            for i in start..<min(start + 10_000, messages) {
                text += #"{"device_id":"mq_\#(i % 1000)","timestamp":\#(base + Int64(i / 1000)),"load":\#(i % 977)}"# + "\n"
            }
            let chunk = "\(workDir)/mqtt-\(chunks.count).txt"
            try text.write(toFile: chunk, atomically: false, encoding: .utf8)
            chunks.append(chunk)
        }
        let publishAll = "for f in \(chunks.joined(separator: " ")); do mosquitto_pub -p \(port) -q 1 -t telemetry/bench -l < $f || exit 1; done"

        // Mosquitto to a plain subscriber.
        let subscriber = try HTTPBench.Client(tool: "/usr/bin/mosquitto_sub", arguments: ["-p", String(port), "-q", "1", "-t", "telemetry/bench", "-C", String(messages)],
                                              log: "\(workDir)/mosquitto_sub.log")
        try await Task.sleep(for: .milliseconds(300))
        var started = ContinuousClock.now
        let publisher = try HTTPBench.Client(tool: "/bin/sh", arguments: ["-c", publishAll], log: "\(workDir)/pub-1.log")
        _ = try await blocking { subscriber.wait() }
        let subscriberRate = Double(messages) / (ContinuousClock.now - started).totalSeconds
        _ = try await blocking { publisher.wait() }

        // Through the hub and a processor to committed rows.
        let database = try await blocking { try servers.freshDatabase("bench_peers") }
        let processor = try Daemon.start(binary: "\(binDirectory)/telemetry-processor", name: "peers-processor", config: """
            redis: { host: 127.0.0.1, port: \(servers.redisPort), key_prefix: bench_mqtt }
            postgres: { url: "\(servers.conninfo(database))" }
            http: { port: 0 }
            log: { level: warning }
            """, directory: workDir, environment: [:])
        defer { processor.kill() }
        let hubPort = try LoopbackPort.free()
        let hub = try Daemon.start(binary: "\(binDirectory)/telemetry-hub", name: "peers-mqtt-hub", config: """
            redis: { host: 127.0.0.1, port: \(servers.redisPort), key_prefix: bench_mqtt }
            spool: { dir: \(workDir)/spool-mqtt }
            simulated: { enabled: false }
            http: { port: \(hubPort) }
            log: { level: warning }
            mqtt:
              brokers: [bench]
              broker:
                bench: { url: "mqtt://127.0.0.1:\(port)", client_id: bench-hub, subscriptions: ["telemetry/+ json"] }
            """, directory: workDir, environment: [:])
        defer { hub.kill() }
        try await waitReady(port: hubPort, daemon: hub)
        let connectDeadline = ContinuousClock.now + .seconds(30)
        while try await curl(["-s", "http://127.0.0.1:\(hubPort)/metrics"]).output.contains(#"telemetry_hub_mqtt_connected{broker="bench"} 1"#) == false {
            guard ContinuousClock.now < connectDeadline else { throw BenchError("the hub did not subscribe; see \(hub.logPath)") }
            try await Task.sleep(for: .milliseconds(100))
        }
        let pg = try PostgresConnection(conninfo: servers.conninfo(database))
        started = ContinuousClock.now
        let second = try HTTPBench.Client(tool: "/bin/sh", arguments: ["-c", publishAll], log: "\(workDir)/pub-2.log")
        let deadline = ContinuousClock.now + .seconds(600)
        while Int(try pg.execute("SELECT count(*) FROM samples").rows.first?[0] ?? "") ?? 0 < messages {
            guard ContinuousClock.now < deadline, hub.isRunning, processor.isRunning else { throw BenchError("MQTT messages were not all committed in time; see \(hub.logPath)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        let endToEnd = Double(messages) / (ContinuousClock.now - started).totalSeconds
        _ = try await blocking { second.wait() }
        pg.close()
        return (endToEnd, subscriberRate)
    }

    private func waitReady(port: Int, daemon: Daemon) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while try await curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/ready"]).output != "200" {
            guard ContinuousClock.now < deadline, daemon.isRunning else { throw BenchError("a daemon did not become ready; see \(daemon.logPath)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    private func curl(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.path + "/telemetry-bench-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let client = try HTTPBench.Client(tool: "/usr/bin/curl", arguments: arguments, log: log)
        return try await blocking { client.wait() }
    }
}
