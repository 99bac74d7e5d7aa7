import Foundation
import Postgres
import Redis
import Testing

/// A database of its own for one test, created from the `telemetry` database.
struct TestDatabase {
    let name: String

    /// Waits up to 90 s for `expected` samples, lets anything extra (there must be none) arrive for
    /// 500 ms, then expects the count exact and `aggregates_1m` equal to a recount. Returns when the
    /// count was reached, for recovery times.
    @discardableResult
    func expectStoredOnce(_ expected: Int, _ context: @autoclosure () -> String,
                          sourceLocation: SourceLocation = #_sourceLocation) async throws -> ContinuousClock.Instant {
        let complete = try await eventually(timeout: .seconds(90)) { try scalar("SELECT count(*) FROM samples") >= expected }
        let reached = ContinuousClock.now
        #expect(complete, "\(context())", sourceLocation: sourceLocation)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try scalar("SELECT count(*) FROM samples") == expected, sourceLocation: sourceLocation)
        #expect(try aggregateMismatches() == 0, sourceLocation: sourceLocation)
        return reached
    }

    var conninfo: String { "host=\(TestServers.pgHost) port=\(TestServers.pgPort) user=\(TestServers.pgUser) dbname=\(name)" }

    static func create() throws -> TestDatabase {
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let admin: PostgresConnection
        do {
            admin = try PostgresConnection(conninfo: "host=\(TestServers.pgHost) port=\(TestServers.pgPort) user=\(TestServers.pgUser) dbname=telemetry")
        } catch {
            throw HarnessError("PostgreSQL is not reachable at \(TestServers.pgHost):\(TestServers.pgPort) (\(error)); \(TestServers.hint)")
        }
        try admin.execute("CREATE DATABASE \(name)")
        return TestDatabase(name: String(name))
    }

    func connect() throws -> PostgresConnection {
        let connection = try PostgresConnection(conninfo: conninfo)
        try connection.execute("SET timezone = 'UTC'")
        return connection
    }

    func scalar(_ sql: String) throws -> Int {
        let connection = try connect()
        return Int(try connection.execute(sql).rows.first?[0] ?? "") ?? -1
    }

    /// Rows where `aggregates_1m` differs from a recount of `samples` (count, min, max exactly,
    /// sum within 1e-9 relative), in either direction.
    func aggregateMismatches() throws -> Int {
        try scalar(Self.aggregateMismatchesSQL)
    }

    /// The query of ``aggregateMismatches()``, for databases of other servers.
    static let aggregateMismatchesSQL = """
            SELECT count(*) FROM (
                SELECT device_id, metric_id, date_trunc('minute', ts) AS bucket,
                       count(*) AS c, sum(value) AS s, min(value) AS lo, max(value) AS hi
                FROM samples GROUP BY 1, 2, 3) r
            FULL JOIN aggregates_1m a USING (device_id, metric_id, bucket)
            WHERE a.count IS DISTINCT FROM r.c OR a.min IS DISTINCT FROM r.lo OR a.max IS DISTINCT FROM r.hi
               OR r.s IS NULL OR a.sum IS NULL OR abs(a.sum - r.s) > 1e-9 * greatest(abs(r.s), 1e-9)
            """
}
