import Foundation
import Postgres
import Redis
import Testing

/// Settings shared by the daemons of one test: its own key prefix, database and consumer names.
struct Deployment {
    let prefix = "t" + UUID().uuidString.lowercased().prefix(8)
    let database: TestDatabase
    /// The hub's spool directory for this test.
    var spoolDirectory: String { "\(TestServers.logDirectory)/../spool-\(prefix)" }

    init() throws { database = try TestDatabase.create() }

    func processorEnvironment(consumer: String = "p1", extra: [String: String] = [:]) -> [String: String] {
        ["REDIS_KEY_PREFIX": prefix, "POSTGRES_URL": database.conninfo, "CONSUMER_NAME": consumer,
         "NUM_WORKERS": "4", "LOG_LEVEL": "info", "LEASE_TTL_MS": "2000", "LEASE_RENEW_MS": "300"].merging(extra) { $1 }
    }

    func hubEnvironment(sensors: Int, readings: Int, rate: Double, spikes: Double = 0, extra: [String: String] = [:]) -> [String: String] {
        ["REDIS_KEY_PREFIX": prefix, "SIMULATED_ENABLED": "true", "SIMULATED_SENSORS": String(sensors), "SIMULATED_READINGS": String(readings),
         "SIMULATED_RATE_HZ": String(rate), "SIMULATED_SPIKE_PROBABILITY": String(spikes), "SIMULATED_DEVICE_PREFIX": "\(prefix)_sim",
         "INGEST_FLUSH_INTERVAL_MS": "20", "SPOOL_DIR": spoolDirectory, "BREAKER_PROBE_MS": "100",
         "BREAKER_MAX_PROBE_MS": "500"].merging(extra) { $1 }
    }

    /// Pending entries of the consumer group over every shard.
    func pendingEntries(shards: Int = 8) throws -> Int {
        let redis = try TestServers.redis()
        var total = 0
        for shard in 0..<shards {
            let reply = try redis.send(["XPENDING", "\(prefix):stream:\(shard)", "processors"])
            total += reply.array?.first?.int ?? 0
        }
        return total
    }
}

extension Deployment {
    /// `telemetryctl` options for this deployment's Redis keys.
    var ctlOptions: [String] { ["--redis-port", String(TestServers.redisPort), "--key-prefix", prefix] }

    /// The dead letters: id and fields.
    func deadLetters() throws -> [(id: String, fields: [String: [UInt8]])] {
        let redis = try TestServers.redis()
        return (try redis.send(["XRANGE", "\(prefix):dlq", "-", "+"]).array ?? []).map { entry in
            let parts = entry.array ?? []
            var fields: [String: [UInt8]] = [:]
            let values = parts.count > 1 ? parts[1].array ?? [] : []
            var i = 0
            while i + 1 < values.count { fields[values[i].string ?? ""] = values[i + 1].bytes ?? []; i += 2 }
            return (parts.first?.string ?? "", fields)
        }
    }
}
