import Postgres
import Synchronization
import TelemetryCore

/// One read connection of a node, on a thread of its own (libpq blocks; never the cooperative pool).
actor ReadConnection {
    private nonisolated let executor: ThreadExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    private let conninfo: String
    private var connection: PostgresConnection?

    init(conninfo: String, name: String) {
        self.conninfo = conninfo
        executor = ThreadExecutor(name: name)
    }

    /// Runs one statement with text parameters; a broken connection is dropped (the next call reconnects).
    func query(_ sql: String, _ parameters: [String?]) throws(PostgresError) -> PostgresRows {
        do {
            return try live().query(sql, parameters)
        } catch {
            if !(connection?.isUsable ?? false) {
                connection?.close()
                connection = nil
            }
            throw error
        }
    }

    private func live() throws(PostgresError) -> PostgresConnection {
        if let connection, connection.isUsable { return connection }
        connection?.close()
        let made = try PostgresConnection(conninfo: conninfo)
        connection = made
        return made
    }
}

/// The read connections of one node (the primary or a replica): at most `connections` reads at
/// once, the others queued up to the queue timeout. Every connection is read-only
/// (`default_transaction_read_only`) with the node's statement timeout.
final class NodePool: Sendable {
    /// `primary` or the replica's name.
    let name: String
    private let limiter: AsyncLimiter
    private let idle: Mutex<[ReadConnection]>

    init(name: String, conninfo: String, connections: Int, statementTimeoutMillis: Int) {
        self.name = name
        let settings = ConnectionSettings.read(conninfo, statementTimeoutMillis: statementTimeoutMillis)
        limiter = AsyncLimiter(limit: connections)
        idle = Mutex((0..<connections).map { ReadConnection(conninfo: settings, name: "read-\(name)-\($0)") })
    }

    /// Reads in flight.
    var inUse: Int { limiter.inUse }

    /// Runs `sql` on a free connection, waiting up to `queueTimeout` for one; nil when none came.
    func query(_ sql: String, _ parameters: [String?], queueTimeout: Duration) async throws(PostgresError) -> PostgresRows? {
        guard await limiter.acquire(timeout: queueTimeout) else { return nil }
        let connection = idle.withLock { $0.removeLast() }
        defer {
            idle.withLock { $0.append(connection) }
            limiter.release()
        }
        return try await connection.query(sql, parameters)
    }
}

/// Connection settings added to a configured connection string unless it sets them.
enum ConnectionSettings {
    /// A read connection: a 2 s connect timeout, TCP keepalives, the statement timeout, and
    /// read-only transactions (the query daemon never writes).
    static func read(_ conninfo: String, statementTimeoutMillis: Int) -> String {
        adding([("connect_timeout", "2"), ("keepalives", "1"), ("keepalives_idle", "5"), ("keepalives_interval", "2"),
                ("keepalives_count", "2"), ("application_name", "telemetry-query"),
                ("options", "-c statement_timeout=\(statementTimeoutMillis) -c default_transaction_read_only=on")], to: conninfo)
    }

    /// `settings` appended to `conninfo` (keyword form or URL) except those it already sets.
    static func adding(_ settings: [(String, String)], to conninfo: String) -> String {
        let missing = settings.filter { !conninfo.contains($0.0 + "=") }
        guard !missing.isEmpty else { return conninfo }
        if conninfo.hasPrefix("postgres://") || conninfo.hasPrefix("postgresql://") {
            let query = missing.map { name, value in
                "\(name)=" + value.map { $0 == " " ? "%20" : $0 == "=" ? "%3D" : String($0) }.joined()
            }
            return conninfo + (conninfo.contains("?") ? "&" : "?") + query.joined(separator: "&")
        }
        let pairs = missing.map { "\($0.0)='\($0.1)'" }
        return conninfo + (conninfo.isEmpty ? "" : " ") + pairs.joined(separator: " ")
    }
}
