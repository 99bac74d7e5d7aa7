import Foundation
import TelemetryCore
import Testing

/// A Mosquitto broker of a test's own (Debian's `mosquitto`): a plain listener and a TLS one with
/// a CA and a server certificate the test makes, persistence on, in a directory of its own.
final class MosquittoServer {
    let port: Int
    let tlsPort: Int
    let directory: String
    var caFile: String { "\(directory)/ca.pem" }
    private var process: Process?

    init() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto") else {
            throw HarnessError("mosquitto is not installed: run `make deps-test` (Debian package mosquitto)")
        }
        port = try freePort()
        tlsPort = try freePort()
        directory = "\(TestServers.logDirectory)/../mosquitto-\(port)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let d = directory
        let script = """
            set -e
            cd \(d)
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=telemetry-test-ca 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext 2>/dev/null
            """
        let (status, output) = try await runTool("/bin/sh", ["-c", script])
        guard status == 0 else { throw HarnessError("making the test certificates failed: \(output)") }
        try """
            user root
            persistence true
            persistence_location \(d)/
            max_inflight_messages 100
            max_queued_messages 1000000
            log_dest file \(d)/mosquitto.log
            listener \(port) 127.0.0.1
            allow_anonymous true
            listener \(tlsPort) 127.0.0.1
            allow_anonymous true
            cafile \(d)/ca.pem
            certfile \(d)/server.pem
            keyfile \(d)/server.key
            """.write(toFile: "\(d)/mosquitto.conf", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/mosquitto")
        process.arguments = ["-c", "\(d)/mosquitto.conf"]
        try process.run()
        self.process = process
        let up = try await eventually(timeout: .seconds(10)) {
            (try? await runTool("/usr/bin/mosquitto_pub", ["-p", String(self.port), "-t", "probe", "-m", "1"]))?.0 == 0
        }
        guard up else { throw HarnessError("mosquitto did not start; see \(d)/mosquitto.log") }
    }

    deinit { if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// MQTT ingest against Debian's Mosquitto with paho-mqtt publishers (Tests/MQTT/publish.py).
@Suite("MQTT ingest (real Mosquitto, Redis and PostgreSQL)", .serialized)
struct MQTTIngestTests {
    static var python: String { TestServers.environment["TELEMETRY_PYTHON"] ?? "\(TestServers.logDirectory)/../../venv/bin/python" }
    static var script: String { TestServers.root.appendingPathComponent("Tests/MQTT/publish.py").path }

    enum Variant: String, CaseIterable, CustomTestStringConvertible {
        case v311 = "3.1.1", v5 = "5.0", tls = "5.0 over TLS"
        var testDescription: String { rawValue }
        /// 10 000 in all in `make test`; six times as many in `make drill` (TELEMETRY_DRILL_LONG=1).
        var messages: Int {
            let long = ProcessInfo.processInfo.environment["TELEMETRY_DRILL_LONG"] == "1"
            return (self == .tls ? 2000 : 4000) * (long ? 6 : 1)
        }
    }

    @Test("QoS 1 messages from paho through Mosquitto with the hub killed (kill -9) twice mid-stream: every message stored exactly once, bad payloads in the dead letters",
          arguments: Variant.allCases)
    func exactlyOnce(variant: Variant) async throws {
        let (probe, _) = try await runTool(Self.python, ["-c", "import paho.mqtt"])
        guard probe == 0 else { throw HarnessError("paho-mqtt is not installed for \(Self.python): run `make deps-test`") }
        let broker = try await MosquittoServer()
        let deployment = try Deployment()
        let p = deployment.prefix
        let processor = try Daemon("telemetry-processor", name: "mqtt-processor-\(p)", environment: deployment.processorEnvironment())
        var environment = deployment.hubEnvironment(sensors: 1, readings: 1, rate: 1, extra: [
            "SIMULATED_ENABLED": "false", "MQTT_BROKERS": "m1",
            "MQTT_BROKER_M1_SUBSCRIPTIONS": "telemetry/+/+ value,telemetry/+ json,lp/+ line_protocol",
            "MQTT_BROKER_M1_RECONNECT_INITIAL_MS": "100", "MQTT_BROKER_M1_RECONNECT_MAX_MS": "1000",
        ])
        switch variant {
        case .v311:
            environment["MQTT_BROKER_M1_URL"] = "mqtt://127.0.0.1:\(broker.port)"
            environment["MQTT_BROKER_M1_PROTOCOL"] = "3.1.1"
            environment["MQTT_BROKER_M1_CLIENT_ID"] = "hub-\(p)"
        case .v5:
            environment["MQTT_BROKER_M1_URL"] = "mqtt://127.0.0.1:\(broker.port)"
            environment["MQTT_BROKER_M1_CLIENT_ID"] = "hub-\(p)"
        case .tls:
            // The default client id (host name and broker name): stable across the restarts.
            environment["MQTT_BROKER_M1_URL"] = "mqtts://localhost:\(broker.tlsPort)"
            environment["MQTT_BROKER_M1_CA_FILE"] = broker.caFile
        }
        var hub = try Daemon("telemetry-hub", name: "mqtt-hub-\(p)-1", environment: environment)
        let connected = try await eventually(timeout: .seconds(20)) { try await hub.metric("telemetry_hub_mqtt_connected{broker=\"m1\"}") == 1 }
        #expect(connected, "\(hub.tail)")

        let count = variant.messages, badEvery = 50
        let (host, port, ca) = variant == .tls ? ("localhost", broker.tlsPort, broker.caFile) : ("127.0.0.1", broker.port, "-")
        let version = variant == .v311 ? "3.1.1" : "5.0"
        // At most 1 500 messages a second: the kills land while messages flow.
        async let published = runTool(Self.python, [Self.script, host, String(port), version, ca, String(count), p, String(badEvery), "1500"])

        // Killed twice while messages arrive: once a third is stored, once two thirds are.
        let db = deployment.database
        var storedAtKills: [Int] = []
        for (round, share) in [(2, 3), (3, 3)].enumerated() {
            let target = count * (round + 1) / share.1
            _ = try await eventually(timeout: .seconds(60), every: .milliseconds(20)) { try db.scalar("SELECT count(*) FROM samples") >= target * 9 / 10 }
            storedAtKills.append(try db.scalar("SELECT count(*) FROM samples"))
            #expect(await hub.stop(signal: SIGKILL) != nil)
            try await Task.sleep(for: .milliseconds(300))
            hub = try Daemon("telemetry-hub", name: "mqtt-hub-\(p)-\(share.0)", environment: environment)
        }
        let (status, output) = try await published
        let summary = output.split(separator: "\n").last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Int] } ?? [:]
        #expect(status == 0 && summary["unacked"] == 0, "publisher: \(output.suffix(2000))")
        let good = summary["good"] ?? -1, bad = summary["bad"] ?? -1
        #expect(good + bad == count && bad == count / badEvery)

        try await db.expectStoredOnce(good, "hub:\n\(hub.tail)\nprocessor:\n\(processor.tail)")
        #expect(try db.scalar("SELECT sum(value)::bigint FROM samples") == summary["value_sum"])
        #expect(try db.scalar("SELECT count(DISTINCT device_id) FROM samples") == 47)
        #expect(storedAtKills.allSatisfy { $0 < good }, "the kills came after every message was stored: \(storedAtKills)")
        // Every bad payload is in the dead letters (a redelivery after a kill may add it twice), with its topic.
        let letters = try deployment.deadLetters().filter { String(decoding: $0.fields["source"] ?? [], as: UTF8.self) == "mqtt:m1" }
        let payloads = Set(letters.map { String(decoding: $0.fields["payload"] ?? [], as: UTF8.self) })
        #expect(payloads.count == bad && payloads.allSatisfy { $0.hasPrefix("bad ") && $0.hasSuffix(" \(p) {") }, "\(payloads.prefix(5))")
        #expect(letters.allSatisfy { String(decoding: $0.fields["source_id"] ?? [], as: UTF8.self).contains("\(p)_d") })
        // The line-protocol messages' tags are labels.
        #expect(try db.scalar("SELECT count(DISTINCT device_id) FROM device_labels WHERE key = 'line'") > 0)
        let after = try await eventually(timeout: .seconds(10)) { try await hub.metric("telemetry_hub_mqtt_inflight_messages{broker=\"m1\"}") == 0 }
        #expect(after)
        print("mqtt \(variant.rawValue): \(count) QoS 1 messages (\(bad) bad) through Mosquitto, hub killed twice (at \(storedAtKills) stored): \(good) stored once, \(payloads.count) bad payloads dead-lettered (\(letters.count) letters)")
        #expect(await hub.stop() == 0, "\(hub.tail)")
        #expect(await processor.stop() == 0)
    }
}
