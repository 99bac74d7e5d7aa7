import Postgres
import Synchronization
import TelemetryCore

/// One read connection of a node, on a thread of its own (libpq blocks; never the cooperative pool).
actor ReadConnection {
    private nonisolated let executor: ThreadExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    private let conninfo: String
    private let requireRowSecurity: Bool
    private var connection: PostgresConnection?
    /// The tenant the session's `telemetry.tenant` names (nil: not set yet on this connection).
    private var tenant: String?

    /// With `requireRowSecurity`, a connection whose role is not subject to the tables'
    /// row-level security (a superuser, `BYPASSRLS`, or the tables' owner) is refused.
    init(conninfo: String, name: String, requireRowSecurity: Bool) {
        self.conninfo = conninfo
        self.requireRowSecurity = requireRowSecurity
        executor = ThreadExecutor(name: name)
    }

    /// Runs one statement with text parameters, in a session whose `telemetry.tenant` is `tenant`
    /// (the database's row-level security shows that tenant's rows only; nil: left as it is, for
    /// reads of no tenant's data). A broken connection is dropped (the next call reconnects).
    func query(_ sql: String, _ parameters: [String?], tenant: String?) throws(PostgresError) -> PostgresRows {
        do {
            let pg = try live()
            if let tenant, tenant != self.tenant {
                self.tenant = nil
                try pg.query("SELECT set_config('telemetry.tenant', $1, false)", [tenant])
                self.tenant = tenant
            }
            return try pg.query(sql, parameters)
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
        connection = nil
        tenant = nil
        let made = try PostgresConnection(conninfo: conninfo)
        if requireRowSecurity {
            let bypass = try made.execute("""
                SELECT current_user, r.rolsuper OR r.rolbypassrls
                    OR coalesce((SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = to_regclass('devices')), false)
                FROM pg_roles r WHERE r.rolname = current_user
                """).rows.first
            if bypass?[1] != "f" {
                made.close()
                throw PostgresError(.connectionFailed, "role \(bypass?[0] ?? "?") is not subject to row-level security (a superuser, BYPASSRLS, "
                                    + "or the tables' owner): with tenants configured, connect as a member of telemetry_reader (Docs/tenants.md)")
            }
        }
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

    init(name: String, conninfo: String, connections: Int, statementTimeoutMillis: Int, requireRowSecurity: Bool = false) {
        self.name = name
        let settings = ConnectionSettings.read(conninfo, statementTimeoutMillis: statementTimeoutMillis)
        limiter = AsyncLimiter(limit: connections)
        idle = Mutex((0..<connections).map {
            ReadConnection(conninfo: settings, name: "read-\(name)-\($0)", requireRowSecurity: requireRowSecurity)
        })
    }

    /// Reads in flight.
    var inUse: Int { limiter.inUse }

    /// Runs `sql` on a free connection for `tenant` (``ReadConnection/query(_:_:tenant:)``),
    /// waiting up to `queueTimeout` for one; nil when none came.
    func query(_ sql: String, _ parameters: [String?], tenant: String? = nil, queueTimeout: Duration) async throws(PostgresError) -> PostgresRows? {
        guard await limiter.acquire(timeout: queueTimeout) else { return nil }
        let connection = idle.withLock { $0.removeLast() }
        defer {
            idle.withLock { $0.append(connection) }
            limiter.release()
        }
        return try await connection.query(sql, parameters, tenant: tenant)
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
