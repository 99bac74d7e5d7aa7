import Foundation
import Postgres
import Processor
import Redis

/// The Redis and PostgreSQL the bench measures against (`make bench` starts them under
/// `.run/bench`), and helpers to give every measurement a database of its own.
struct BenchServers: Sendable {
    var redisPort: Int
    var pgPort: Int
    var pgUser = "telemetry"
    var runDirectory: String

    var redis: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: redisPort) }
    static let hint = "start them with `make bench` (or `Deploy/dev/services.sh start bench 36379 35432`)"

    func conninfo(_ database: String) -> String {
        "host=127.0.0.1 port=\(pgPort) user=\(pgUser) dbname=\(database)"
    }

    /// Fails with a hint when a server is not there.
    func check() throws {
        do {
            _ = try RedisConnection(endpoint: redis).send(["PING"])
        } catch {
            throw BenchError("Redis is not reachable at 127.0.0.1:\(redisPort) (\(error)); \(Self.hint)")
        }
        do {
            _ = try PostgresConnection(conninfo: conninfo("telemetry")).execute("SELECT 1")
        } catch {
            throw BenchError("PostgreSQL is not reachable at 127.0.0.1:\(pgPort) (\(error)); \(Self.hint)")
        }
    }

    /// Drops and re-creates `name`, applies the processor's schema and creates the day partitions
    /// around now, so a measurement starts from an empty, migrated database.
    @discardableResult
    func freshDatabase(_ name: String, migrate: Bool = true) throws -> String {
        // As the superuser: dropping WITH (FORCE) must also end an autovacuum worker, which the
        // telemetry role may not signal; the database still belongs to telemetry.
        let admin = try PostgresConnection(conninfo: "host=127.0.0.1 port=\(pgPort) user=postgres dbname=postgres")
        try admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        try admin.execute("CREATE DATABASE \(name) OWNER \(pgUser)")
        admin.close()
        guard migrate else { return name }
        let pg = try PostgresConnection(conninfo: conninfo(name))
        try MigrationRunner.migrate(pg, migrations: Schema.migrations)
        try pg.execute("SELECT telemetry_ensure_partition(d::date) FROM generate_series(now() - interval '1 day', now() + interval '1 day', interval '1 day') AS d")
        pg.close()
        return name
    }

    /// The PostgreSQL server's settings that decide its speed, for the report.
    func settings() throws -> [String: String] {
        let pg = try PostgresConnection(conninfo: conninfo("telemetry"))
        var out: [String: String] = [:]
        for row in try pg.execute("""
            SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN
            ('fsync', 'synchronous_commit', 'shared_buffers', 'max_wal_size', 'wal_level', 'track_commit_timestamp', 'server_version')
            """).rows {
            if let name = row[0], let value = row[1] { out["postgres." + name] = value }
        }
        if let info = try? RedisConnection(endpoint: redis).send(["CONFIG", "GET", "append*"]).array {
            var index = 0
            while index + 1 < info.count {
                if let key = info[index].string, let value = info[index + 1].string { out["redis." + key] = value }
                index += 2
            }
        }
        return out
    }
}
