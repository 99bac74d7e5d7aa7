public import Logging
import Postgres
import Redis
public import ServiceLifecycle
public import Supervision
import TelemetryCore
public import TelemetryStatus

/// The query daemon's service: probes the replicas (one child each, every `read.probe_ms`) and
/// the primary and the cache (every second, for `/ready` and the metrics) under its supervisor;
/// ``QueryAPI`` answers on the daemon's HTTP port.
public final class QueryService: Service {
    /// What it was started with.
    public let configuration: QueryConfiguration
    /// Its counters (metrics and status).
    public let counters = QueryCounters()
    /// The supervisor of its probes.
    public let supervisor: Supervisor
    let nodes: ReadNodes
    let latest: LatestReader
    let api: QueryAPI
    private let logger: Logger
    private let onReady: @Sendable (String) -> Void
    private let onStopping: @Sendable () -> Void

    /// The service; `afterFill` runs between a cache fill's read and its write (tests inject a delay).
    public init(configuration: QueryConfiguration, logger: Logger, onReady: @escaping @Sendable (String) -> Void = { _ in },
                onStopping: @escaping @Sendable () -> Void = {}, afterFillRead: @escaping @Sendable (String) async -> Void = { _ in }) {
        self.configuration = configuration
        self.logger = logger
        self.onReady = onReady
        self.onStopping = onStopping
        supervisor = Supervisor(policy: configuration.restartPolicy, logger: logger)
        nodes = ReadNodes(configuration: configuration, logger: logger, counters: counters)
        latest = LatestReader(nodes: nodes, redis: configuration.cacheEnabled ? configuration.redis.endpoint : nil, keys: configuration.redis.keys,
                              ttlMillis: configuration.cacheTTLMillis, counters: counters, logger: logger, afterRead: afterFillRead)
        api = QueryAPI(configuration: configuration, nodes: nodes, latest: latest, counters: counters, logger: logger)
    }

    /// Probes until graceful shutdown.
    public func run() async throws {
        let nodes = self.nodes
        let counters = self.counters
        let configuration = self.configuration
        let logger = self.logger
        let redis = configuration.cacheEnabled ? RedisClient(endpoint: configuration.redis.endpoint, name: "probe") : nil
        // A connection of its own: a primary whose read connections are all busy is not down.
        let probe = ReadConnection(conninfo: ConnectionSettings.read(configuration.primaryURL, statementTimeoutMillis: 2000), name: "probe-primary",
                                   requireRowSecurity: !configuration.tenants.names.isEmpty)
        var children: [Supervisor.Child] = [
            .init(name: "readiness") {
                var announced = false
                var lastProblem: String?
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    var up = true
                    do throws(PostgresError) {
                        _ = try await probe.query("SELECT 1", [], tenant: nil)
                        lastProblem = nil
                    } catch {
                        up = false
                        // Told once per distinct problem (a role that bypasses row-level security, a refused login, …).
                        if lastProblem != error.message {
                            lastProblem = error.message
                            logger.error("the primary cannot serve reads", metadata: ["error": "\(error)"])
                        }
                    }
                    counters.primaryUp.store(up ? 1 : 0, ordering: .relaxed)
                    if let redis { counters.redisUp.store((try? await redis.send(["PING"])) != nil ? 1 : 0, ordering: .relaxed) }
                    if up && !announced {
                        announced = true
                        logger.info("query ready", metadata: ["replicas": "\(configuration.replicas.map(\.name))"])
                        self.onReady("serving reads: primary and \(configuration.replicas.count) replica(s)")
                    }
                    try? await Task.sleep(for: .seconds(1))
                }
            },
        ]
        for replica in nodes.replicas {
            let monitor = replica.monitor
            children.append(.init(name: "replica-\(monitor.name)", role: .maintenance) {
                await monitor.run(every: .milliseconds(configuration.probeMillis))
            })
        }
        let supervisor = self.supervisor
        let onStopping = self.onStopping
        try await withGracefulShutdownHandler {
            try await supervisor.run(children)
        } onGracefulShutdown: {
            onStopping()
            logger.info("query stopping")
        }
    }

    /// The nodes for the status document.
    public func nodeStatus() -> [StatusDocument.ReadNode] {
        var list = [StatusDocument.ReadNode(name: "primary", role: "primary",
                                            state: counters.primaryUp.load(ordering: .relaxed) == 1 ? "reachable" : "unreachable",
                                            lagSeconds: 0, inUse: nodes.primary.inUse)]
        for replica in nodes.replicas {
            let (state, lag) = replica.monitor.snapshot
            let name: String = switch state {
            case .closed: "closed"
            case .open: "open"
            case .halfOpen: "half_open"
            }
            list.append(.init(name: replica.monitor.name, role: replica.monitor.role.rawValue, state: name, lagSeconds: lag,
                              inUse: replica.pool.inUse))
        }
        return list
    }
}
