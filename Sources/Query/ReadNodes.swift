import Logging
import Postgres
import Synchronization
import TelemetryConfiguration
import TelemetryCore

/// Why a read got no answer: the HTTP status, reason code and message of its JSON error.
public struct ReadFailure: Error, Sendable, Equatable {
    /// The HTTP status (400, 404, 425, 503, …).
    public var status: Int
    /// The reason code (`unknown_device`, `too_many_points`, …).
    public var code: String
    /// What happened, for a person.
    public var message: String
    /// Seconds for `Retry-After`, when retrying later can help.
    public var retryAfter: Int?

    /// A failure answered with `status`, reason `code` and `message`.
    public init(_ status: Int, _ code: String, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }
}

/// Where an answer came from: `X-Data-Source` and `X-Data-Lag-Seconds`.
public struct Provenance: Sendable, Equatable {
    /// The source that served it.
    public var source: ReadSource
    /// The replica's last measured lag, in seconds (0 for the primary; for the cache, the age of the entry).
    public var lagSeconds: Double
    /// At most how old its data is: the measured lag plus the time since it was measured.
    public var lagBoundSeconds: Double

    /// Served by `source`; the bound defaults to the measured lag.
    public init(source: ReadSource, lagSeconds: Double, lagBoundSeconds: Double? = nil) {
        self.source = source
        self.lagSeconds = lagSeconds
        self.lagBoundSeconds = lagBoundSeconds ?? lagSeconds
    }
}

/// The lag of each replica that may serve now: measured, and its bound.
typealias ReplicaLags = [String: (lag: Double, bound: Double)]

/// The primary and the replicas with their breakers: runs a read on the first source the
/// ``ReadRouter`` plan names that answers, so a lagging or dead replica costs a fallback, not an error.
final class ReadNodes: Sendable {
    let primary: NodePool
    let replicas: [(monitor: ReplicaMonitor, pool: NodePool)]
    /// Eventual reads on the primary at once while no read replica is healthy.
    let fallback: AsyncLimiter
    /// Session reads' checks on the primary at once: half its connections, so waiting session
    /// reads cannot take them all from strong and fallback reads.
    let sessionPolls: AsyncLimiter
    let maxLagSeconds: Double
    let queueTimeout: Duration
    let logger: Logger
    let counters: QueryCounters
    /// Maps a request's tenant (nil: the default one) to the name its sessions set.
    let tenants: TenantDirectory
    private let rotation = Atomic<Int>(0)

    init(configuration: QueryConfiguration, logger: Logger, counters: QueryCounters) {
        // With tenants, every connection must be one the database's row-level security applies to.
        let rowSecurity = !configuration.tenants.names.isEmpty
        primary = NodePool(name: "primary", conninfo: configuration.primaryURL, connections: configuration.connections,
                           statementTimeoutMillis: configuration.statementTimeoutMillis, requireRowSecurity: rowSecurity)
        replicas = configuration.replicas.map { replica in
            (ReplicaMonitor(name: replica.name, role: replica.role, conninfo: replica.url, settings: configuration.breaker),
             NodePool(name: replica.name, conninfo: replica.url, connections: replica.connections,
                      statementTimeoutMillis: replica.statementTimeoutMillis, requireRowSecurity: rowSecurity))
        }
        tenants = configuration.tenants
        fallback = AsyncLimiter(limit: configuration.primaryFallbackConcurrency)
        sessionPolls = AsyncLimiter(limit: max(1, configuration.connections / 2))
        maxLagSeconds = configuration.breaker.maxLagSeconds
        queueTimeout = .milliseconds(configuration.queueTimeoutMillis)
        self.logger = logger
        self.counters = counters
    }

    /// The replicas as the router sees them now, with the lag each would report.
    func routerView() -> (replicas: [ReadRouter.Replica], lags: ReplicaLags) {
        var lags: ReplicaLags = [:]
        // Each read starts at the next replica, so healthy replicas share the reads.
        let start = replicas.isEmpty ? 0 : rotation.add(1, ordering: .relaxed).newValue % replicas.count
        let view = (replicas[start...] + replicas[..<start]).map { replica in
            let lag = replica.monitor.admits(maxLagSeconds: maxLagSeconds)
            if let lag { lags[replica.monitor.name] = lag }
            return ReadRouter.Replica(name: replica.monitor.name, role: replica.monitor.role, admits: lag != nil)
        }
        return (view, lags)
    }

    /// Runs `sql` for `tenant` (nil: the default tenant; the session shows only its rows) on the
    /// sources of `plan` in order; returns the rows and where they came from. A replica that fails
    /// counts toward its breaker and the next source is tried; the primary failing, or no source
    /// answering, is a 503.
    func read(_ plan: [ReadSource], lags: ReplicaLags, tenant: String?, _ sql: String, _ parameters: [String?]) async throws(ReadFailure)
        -> (PostgresRows, Provenance) {
        let tenant = tenants.databaseName(tenant)
        var lastError: String?
        for source in plan {
            switch source {
            case .cache:
                continue
            case .replica(let name):
                guard let replica = replicas.first(where: { $0.monitor.name == name }) else { continue }
                do {
                    // A busy replica is skipped at once rather than queued: the next source serves.
                    guard let rows = try await replica.pool.query(sql, parameters, tenant: tenant, queueTimeout: .milliseconds(50)) else {
                        counters.countRead("replica_busy")
                        continue
                    }
                    counters.countRead("replica")
                    return (rows, Provenance(source: source, lagSeconds: lags[name]?.lag ?? 0, lagBoundSeconds: lags[name]?.bound))
                } catch {
                    // A read that ran out of time would run out of time anywhere: it is answered,
                    // not moved to the primary. Only a lost or refused connection counts against
                    // the replica's breaker; other errors (a recovery conflict) try the next source.
                    if error.sqlState == "57014" { throw Self.failure(error) }
                    if error.isConnectionError { replica.monitor.readFailed("\(error)") }
                    counters.countRead("replica_failed")
                    logger.warning("a read failed on a replica; trying the next source", metadata: ["replica": "\(name)", "error": "\(error)"])
                    lastError = "\(error)"
                }
            case .primary:
                return (try await onPrimary(sql, parameters, tenant: tenant), Provenance(source: .primary, lagSeconds: 0))
            case .primaryFallback:
                guard await fallback.acquire(timeout: queueTimeout) else {
                    counters.countRead("fallback_refused")
                    throw ReadFailure(503, "busy", "no read replica is healthy and read.primary_fallback_concurrency reads already run on the primary; retry later",
                                      retryAfter: 1)
                }
                defer { fallback.release() }
                counters.countRead("primary_fallback")
                return (try await onPrimary(sql, parameters, tenant: tenant), Provenance(source: .primaryFallback, lagSeconds: 0))
            }
        }
        throw ReadFailure(503, "no_source", "no node could serve this read" + (lastError.map { " (last error: \($0))" } ?? ""), retryAfter: 1)
    }

    /// Runs `sql` on the primary; its failure is a 503 (or a 504-like timeout reported as 503).
    func onPrimary(_ sql: String, _ parameters: [String?], tenant: String) async throws(ReadFailure) -> PostgresRows {
        do {
            guard let rows = try await primary.query(sql, parameters, tenant: tenant, queueTimeout: queueTimeout) else {
                counters.countRead("primary_busy")
                throw ReadFailure(503, "busy", "every primary read connection stayed busy for read.queue_timeout_ms; retry later", retryAfter: 1)
            }
            counters.countRead("primary")
            return rows
        } catch let failure as ReadFailure {
            throw failure
        } catch let error as PostgresError {
            throw Self.failure(error)
        } catch {
            throw ReadFailure(503, "database_unavailable", "\(error)", retryAfter: 1)
        }
    }

    /// Runs a session read's check on the primary if a slot under ``sessionPolls`` and a
    /// connection free up within `queueTimeout`; nil otherwise.
    func onPrimaryIfFree(_ sql: String, _ parameters: [String?], queueTimeout: Duration) async throws(ReadFailure) -> PostgresRows? {
        guard await sessionPolls.acquire(timeout: queueTimeout) else { return nil }
        defer { sessionPolls.release() }
        do {
            return try await primary.query(sql, parameters, queueTimeout: queueTimeout)
        } catch {
            throw Self.failure(error)
        }
    }

    /// The answer for a database error: a statement timeout or an unreachable database is 503.
    static func failure(_ error: PostgresError) -> ReadFailure {
        if error.sqlState == "57014" {
            return ReadFailure(503, "timeout", "the query ran past its statement timeout; narrow the range or use a coarser step", retryAfter: 1)
        }
        if error.isConnectionError {
            return ReadFailure(503, "database_unavailable", "the database is unreachable: \(error)", retryAfter: 1)
        }
        return ReadFailure(503, "database_error", "the database refused the read: \(error)", retryAfter: 1)
    }
}
