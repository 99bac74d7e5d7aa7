import Foundation
import TelemetryStatus
import Testing

/// The daemons' command line (swift-argument-parser over the configuration reader): `--help`
/// lists the keys, `--version`, `check-config`, and a file key nothing reads is an error.
@Suite("Daemon command line")
struct DaemonCommandLineTests {
    static func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("daemon-\(UUID().uuidString.prefix(8)).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("--help lists every key with its environment name and default; --version prints the version", arguments: [
        ("telemetry-hub", ["redis.port = 6379  [REDIS_PORT]", "spool.max_bytes = 1073741824  [SPOOL_MAX_BYTES]", "simulated.enabled = false  [SIMULATED_ENABLED]",
                           "http.port = 8080  [HTTP_PORT]", "http.ingest.token = (none)  [HTTP_INGEST_TOKEN]", "control.group = telemetry  [CONTROL_GROUP]",
                           "log.level = info  [LOG_LEVEL]"]),
        ("telemetry-processor", ["num_workers = 8  [NUM_WORKERS]", "consumer.group = processors  [CONSUMER_GROUP]", "http.port = 8081  [HTTP_PORT]",
                                 "thresholds.temperature.high = 60.0  [THRESHOLDS_TEMPERATURE_HIGH]", "postgres.url = (none)  [POSTGRES_URL]"]),
        ("telemetry-query", ["http.port = 8082  [HTTP_PORT]", "read.max_lag_s = 5.0  [READ_MAX_LAG_S]", "postgres.replicas = []  [POSTGRES_REPLICAS]",
                             "cache.ttl_s = 120  [CACHE_TTL_S]", "http.query.token = (none)  [HTTP_QUERY_TOKEN]"]),
    ])
    func help(executable: String, expected: [String]) async throws {
        let (status, help) = try await runTool(executable, ["--help"])
        #expect(status == 0, "\(help)")
        for line in expected { #expect(help.contains(line), "\(executable) --help lacks \(line)") }
        #expect(help.contains("check-config"))
        let (versionStatus, version) = try await runTool(executable, ["--version"])
        #expect(versionStatus == 0)
        #expect(version.trimmingCharacters(in: .whitespacesAndNewlines) == TelemetryVersion.current)
    }

    @Test("a misspelt key in the file stops start-up and check-config with status 2, naming it and the key meant", arguments: [
        ("telemetry-hub", "spool:\n  max_byts: 4096\n", "spool.max_byts", "spool.max_bytes"),
        ("telemetry-hub", "simulated:\n  enabled: false\n  sensor: 4\n", "simulated.sensor", "simulated.sensors"),
        ("telemetry-processor", "consumer:\n  gruop: p\n", "consumer.gruop", "consumer.group"),
        ("telemetry-processor", "num_worker: 4\n", "num_worker", "num_workers"),
        ("telemetry-query", "read:\n  max_lag: 4\n", "read.max_lag", "read.max_lag_s"),
    ])
    func misspeltKey(executable: String, yaml: String, key: String, meant: String) async throws {
        let path = try Self.file(yaml)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (checkStatus, check) = try await runTool(executable, ["check-config", "--config", path])
        #expect(checkStatus == 2, "\(check)")
        #expect(check.contains("'\(key)'") && check.contains("did you mean '\(meant)'"), "\(check)")
        // The daemon itself refuses it before connecting to anything (no servers are named here).
        let (runStatus, run) = try await runTool(executable, ["--config", path, "--redis-port", "1"])
        #expect(runStatus == 2, "\(run)")
        #expect(run.contains("'\(key)'"), "\(run)")
        // telemetryctl config check makes the same checks.
        let daemon = String(executable.dropFirst("telemetry-".count))
        let (ctlStatus, ctl) = try await runTool("telemetryctl", ["config", "check", daemon, path])
        #expect(ctlStatus == 2 && ctl.contains("'\(key)'") && ctl.contains("did you mean '\(meant)'"), "\(ctl)")
        let (jsonStatus, json) = try await runTool("telemetryctl", ["config", "check", daemon, path, "--json"])
        let document = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(jsonStatus == 2 && document?["valid"] as? Bool == false && (document?["error"] as? String)?.contains(meant) == true, "\(json)")
    }

    @Test("telemetryctl config check accepts the shipped files, masks secrets, and tells a missing file (1) from a usage error (64)", arguments: [
        ("hub", "Configuration/hub.yaml"), ("processor", "Configuration/processor.yaml"), ("query", "Configuration/query.yaml"),
    ])
    func ctlConfigCheck(daemon: String, file: String) async throws {
        let path = TestServers.root.appendingPathComponent(file).path
        // The environment counts, as for the daemon (REDIS_PORT here).
        let secrets = ["HTTP_INGEST_TOKEN": "0123456789abcdef-secret", "POSTGRES_URL": "postgresql://u:pw@db/x", "REDIS_PORT": "6390"]
        let (status, output) = try await runTool("telemetryctl", ["config", "check", daemon, path], environment: secrets)
        #expect(status == 0 && output.contains("valid \(daemon) configuration"), "\(output)")
        #expect(!output.contains("0123456789abcdef-secret") && !output.contains("pw@db"), "a secret was printed: \(output)")
        let (jsonStatus, json) = try await runTool("telemetryctl", ["config", "check", daemon, path, "--json"], environment: secrets)
        let document = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(jsonStatus == 0 && document?["valid"] as? Bool == true && (document?["keys"] as? [String: String])?["redis.port"] == "6390", "\(json)")
        let (missing, missingOutput) = try await runTool("telemetryctl", ["config", "check", daemon, "/nonexistent.yaml"])
        #expect(missing == 1 && missingOutput.split(separator: "\n").count == 1, "\(missingOutput)")
        let (usage, _) = try await runTool("telemetryctl", ["config", "check", "gateway", path])
        #expect(usage == 64)
    }

    @Test("check-config accepts the shipped files and prints the effective values, flags and environment included, secrets masked", arguments: [
        ("telemetry-hub", "Configuration/hub.yaml"), ("telemetry-processor", "Configuration/processor.yaml"),
        ("telemetry-query", "Configuration/query.yaml"),
    ])
    func shippedFiles(executable: String, file: String) async throws {
        let path = TestServers.root.appendingPathComponent(file).path
        let (status, output) = try await runTool(executable, ["check-config", "--config", path, "--redis-port", "7000"],
                                                  environment: ["HTTP_INGEST_TOKEN": "0123456789abcdef-secret", "POSTGRES_URL": "postgresql://u:pw@db/x"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("redis.port = 7000   (an integer in 1…65535, default 6379)"), "\(output)")
        #expect(!output.contains("0123456789abcdef-secret") && !output.contains("pw@db"), "a secret was printed: \(output)")
    }

    @Test("an invalid value in check-config is status 2 with the key; a runtime failure is never 2")
    func statuses() async throws {
        let (status, output) = try await runTool("telemetry-hub", ["check-config", "--ingest-batch_size", "0"])
        #expect(status == 2)
        #expect(output.contains("'ingest.batch_size'"), "\(output)")
        let (usage, _) = try await runTool("telemetry-hub", ["check-config", "--config"])
        #expect(usage == 64, "a usage error is 64, not a configuration error")
    }

    /// Found by review: words and misspelt flags passed through to the configuration reader,
    /// which drops what it does not know, so `check-config hub.yaml` checked nothing and exited 0.
    @Test("a word where a flag belongs is a usage error (64); a misspelt flag is a configuration error (2) naming the flag meant")
    func strayArguments() async throws {
        let (stray, strayOutput) = try await runTool("telemetry-hub", ["check-config", "Configuration/hub.yaml"])
        #expect(stray == 64, "\(strayOutput)")
        #expect(strayOutput.contains("unexpected argument 'Configuration/hub.yaml'"), "\(strayOutput)")
        let (typo, typoOutput) = try await runTool("telemetry-processor", ["check-config", "--redis-prot", "7000"])
        #expect(typo == 2, "\(typoOutput)")
        #expect(typoOutput.contains("'--redis-prot'") && typoOutput.contains("did you mean '--redis-port'"), "\(typoOutput)")
        let (run, runOutput) = try await runTool("telemetry-hub", ["--redis-prot", "7000"])
        #expect(run == 2, "\(runOutput)")
    }
}
