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
        self.conninfo = Self.withConnectTimeout(conninfo, seconds: 2)
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

    /// `conninfo` with `connect_timeout` set unless it sets one: a probe of a replica that does
    /// not answer must end well within the probe period's order of magnitude.
    static func withConnectTimeout(_ conninfo: String, seconds: Int) -> String {
        guard !conninfo.contains("connect_timeout") else { return conninfo }
        if conninfo.hasPrefix("postgres://") || conninfo.hasPrefix("postgresql://") {
            return conninfo + (conninfo.contains("?") ? "&" : "?") + "connect_timeout=\(seconds)"
        }
        return conninfo + (conninfo.isEmpty ? "" : " ") + "connect_timeout=\(seconds)"
    }
}
