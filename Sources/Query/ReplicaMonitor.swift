import Postgres
import Synchronization
import TelemetryCore

/// Probes one replica every `probe_ms` on a thread of its own (libpq blocks) and keeps its
/// ``ReplicaBreaker``: each probe reads `telemetry_replica_lag()`; a probe that cannot connect
/// or query is a failure. Reads ask ``admits()`` without waiting for a probe, and report their
/// own failures with ``readFailed(_:)``.
public actor ReplicaMonitor {
    private nonisolated let executor: ThreadExecutor
    /// The monitor's own thread.
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// The replica's configured name.
    public nonisolated let name: String
    /// What it serves.
    public nonisolated let role: ReplicaRole
    private let conninfo: String
    private var connection: PostgresConnection?
    private nonisolated let breaker: Mutex<ReplicaBreaker>
    private nonisolated let started = ContinuousClock.now

    /// A monitor of the replica `name` at `conninfo` (a libpq connection string or URL).
    public init(name: String, role: ReplicaRole, conninfo: String, settings: ReplicaBreaker.Settings) {
        self.name = name
        self.role = role
        self.conninfo = Self.withProbeSettings(conninfo)
        breaker = Mutex(ReplicaBreaker(settings: settings))
        executor = ThreadExecutor(name: "replica-\(name)")
    }

    /// Milliseconds of a monotonic clock since the monitor was made.
    nonisolated var nowMillis: Int64 {
        let elapsed = ContinuousClock.now - started
        return elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
    }

    /// Whether the replica may serve a read now.
    public nonisolated func admits() -> Bool {
        let now = nowMillis
        return breaker.withLock { $0.admits(nowMillis: now) }
    }

    /// The breaker's state and the last measured lag.
    public nonisolated var snapshot: (state: ReplicaBreaker.State, lagSeconds: Double?) {
        breaker.withLock { ($0.state, $0.lastLagSeconds) }
    }

    /// A read on the replica failed (`reason`): counts toward `read.max_failures`.
    public nonisolated func readFailed(_ reason: String) {
        let now = nowMillis
        breaker.withLock { $0.failed(nowMillis: now, reason: reason) }
    }

    /// One probe: the replica's lag, or the failure, fed to the breaker.
    public func probe() {
        let now = nowMillis
        do {
            let pg = try live()
            let text = try pg.execute("SELECT telemetry_replica_lag()").rows.first?[0] ?? nil
            guard let text, let lag = Double(text) else {
                breaker.withLock { $0.failed(nowMillis: now, reason: "no lag in the answer") }
                return
            }
            breaker.withLock { $0.probeSucceeded(lagSeconds: lag, nowMillis: now) }
        } catch {
            connection?.close()
            connection = nil
            breaker.withLock { $0.failed(nowMillis: now, reason: "\(error)") }
        }
    }

    /// Probes every `interval` until cancelled.
    public func run(every interval: Duration) async {
        while !Task.isCancelled {
            probe()
            try? await Task.sleep(for: interval)
        }
    }

    private func live() throws(PostgresError) -> PostgresConnection {
        if let connection, connection.isUsable { return connection }
        connection?.close()
        let made = try PostgresConnection(conninfo: conninfo)
        connection = made
        return made
    }

    /// The settings a probe connection needs, added unless `conninfo` sets them: a 2 s connect
    /// timeout, TCP keepalives that notice a silent peer within about 10 s, and a 2 s statement
    /// timeout, so a replica that stops answering (a network black hole, not just a refused
    /// connection) fails its probes instead of holding the prober.
    static func withProbeSettings(_ conninfo: String) -> String {
        let settings = [("connect_timeout", "2"), ("keepalives", "1"), ("keepalives_idle", "5"), ("keepalives_interval", "2"),
                        ("keepalives_count", "2"), ("options", "-c statement_timeout=2000")]
            .filter { !conninfo.contains($0.0 + "=") }
        guard !settings.isEmpty else { return conninfo }
        if conninfo.hasPrefix("postgres://") || conninfo.hasPrefix("postgresql://") {
            let query = settings.map { name, value in
                "\(name)=" + value.map { $0 == " " ? "%20" : $0 == "=" ? "%3D" : String($0) }.joined()
            }
            return conninfo + (conninfo.contains("?") ? "&" : "?") + query.joined(separator: "&")
        }
        let pairs = settings.map { "\($0.0)='\($0.1)'" }
        return conninfo + (conninfo.isEmpty ? "" : " ") + pairs.joined(separator: " ")
    }
}
