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
    /// ``nowMillis`` at the last probe that measured the lag (-1: none yet).
    private nonisolated let measuredAtMillis = Atomic<Int64>(-1)

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

    /// Whether the replica may serve a read whose answer must be at most `maxLagSeconds` old: its
    /// breaker admits reads, and its last measured lag plus the time since that measurement is
    /// within the bound (between probes a paused replay keeps falling behind, so the last figure
    /// alone is not enough). Returns the measured lag (the `X-Data-Lag-Seconds` of its answers)
    /// and that bound.
    public nonisolated func admits(maxLagSeconds: Double) -> (lag: Double, bound: Double)? {
        guard admits() else { return nil }
        let (_, lag) = snapshot
        let measuredAt = measuredAtMillis.load(ordering: .relaxed)
        guard let lag, measuredAt >= 0 else { return nil }
        let bound = lag + Double(nowMillis - measuredAt) / 1000
        return bound <= maxLagSeconds ? (lag, bound) : nil
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
            measuredAtMillis.store(now, ordering: .relaxed)
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
        ConnectionSettings.adding([("connect_timeout", "2"), ("keepalives", "1"), ("keepalives_idle", "5"), ("keepalives_interval", "2"),
                                   ("keepalives_count", "2"), ("options", "-c statement_timeout=2000")], to: conninfo)
    }
}
