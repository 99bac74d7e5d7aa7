/// A daemon's status: what `GET /v1/status` on its control socket returns and what
/// `telemetryctl status` prints. The daemons encode it and the CLI decodes it, so the two sides
/// cannot drift apart. JSON keys are snake_case; fields a daemon does not have are absent.
public struct StatusDocument: Codable, Sendable, Equatable {
    /// One supervised child of the daemon.
    public struct Child: Codable, Sendable, Equatable {
        public var name: String
        /// `running`, `backing_off`, `failed`, …: the supervisor's state name.
        public var state: String
        public var restarts: Int
        public var lastError: String?
        /// Epoch milliseconds of the last error.
        public var lastErrorAtMillis: Int64?

        public init(name: String, state: String, restarts: Int, lastError: String? = nil, lastErrorAtMillis: Int64? = nil) {
            self.name = name
            self.state = state
            self.restarts = restarts
            self.lastError = lastError
            self.lastErrorAtMillis = lastErrorAtMillis
        }

        enum CodingKeys: String, CodingKey {
            case name, state, restarts
            case lastError = "last_error"
            case lastErrorAtMillis = "last_error_at_ms"
        }
    }

    /// One device bus of the hub.
    public struct Bus: Codable, Sendable, Equatable {
        public var name: String
        public var kind: String
        public var connected: Bool
        public var readings: Int
        public var samples: Int
        public var reconnects: Int
        public var deadLetters: Int
        /// Errors counted by kind (only kinds seen).
        public var errors: [String: Int]
        /// Driver-specific detail (a port, an address).
        public var detail: String?
        public var lastError: String?
        public var lastErrorAtMillis: Int64?

        public init(name: String, kind: String, connected: Bool, readings: Int, samples: Int, reconnects: Int, deadLetters: Int,
                    errors: [String: Int], detail: String? = nil, lastError: String? = nil, lastErrorAtMillis: Int64? = nil) {
            self.name = name
            self.kind = kind
            self.connected = connected
            self.readings = readings
            self.samples = samples
            self.reconnects = reconnects
            self.deadLetters = deadLetters
            self.errors = errors
            self.detail = detail
            self.lastError = lastError
            self.lastErrorAtMillis = lastErrorAtMillis
        }

        enum CodingKeys: String, CodingKey {
            case name, kind, connected, readings, samples, reconnects, errors, detail
            case deadLetters = "dead_letters"
            case lastError = "last_error"
            case lastErrorAtMillis = "last_error_at_ms"
        }
    }

    /// The hub's on-disk spool.
    public struct Spool: Codable, Sendable, Equatable {
        public var records: Int
        public var bytes: Int
        public var maxBytes: Int
        public var directory: String

        public init(records: Int, bytes: Int, maxBytes: Int, directory: String) {
            self.records = records
            self.bytes = bytes
            self.maxBytes = maxBytes
            self.directory = directory
        }

        enum CodingKeys: String, CodingKey {
            case records, bytes, directory
            case maxBytes = "max_bytes"
        }
    }

    /// One shard stream as the processor's consumer group sees it.
    public struct Shard: Codable, Sendable, Equatable {
        public var shard: Int
        public var length: Int
        /// Entries not yet delivered to the group; absent when Redis cannot tell.
        public var lag: Int?
        public var pending: Int
        /// `present`, or `missing` (the group is gone: a FLUSHALL, a failover).
        public var group: String

        public init(shard: Int, length: Int, lag: Int?, pending: Int, group: String) {
            self.shard = shard
            self.length = length
            self.lag = lag
            self.pending = pending
            self.group = group
        }
    }

    // Every daemon.
    public var service: String
    public var pid: Int
    public var uptimeSeconds: Int
    public var ready: Bool
    /// The one-line summary also sent as systemd's `STATUS=`.
    public var summary: String
    /// Each dependency's state in words (`reachable`, `unreachable (spooling)`, …).
    public var dependencies: [String: String]
    public var children: [Child]
    /// Stages the watchdog sees as stalled (pings stop while any is).
    public var stalledStages: [String]
    /// The control socket that answered (added by the socket).
    public var socket: String?
    public var queues: [String: Int]
    public var rates: [String: Double]
    public var totals: [String: Int]

    // The hub.
    public var hubID: String?
    public var buses: [Bus]?
    public var spool: Spool?
    /// `closed` or `open`.
    public var breaker: String?

    // The processor.
    public var consumer: String?
    /// Entries of every shard not yet delivered to the group; absent when unknown.
    public var consumerLag: Int?
    public var pending: Int?
    public var shards: [Shard]?

    public init(service: String, pid: Int, uptimeSeconds: Int, ready: Bool, summary: String, dependencies: [String: String],
                children: [Child], stalledStages: [String], queues: [String: Int] = [:], rates: [String: Double] = [:], totals: [String: Int] = [:]) {
        self.service = service
        self.pid = pid
        self.uptimeSeconds = uptimeSeconds
        self.ready = ready
        self.summary = summary
        self.dependencies = dependencies
        self.children = children
        self.stalledStages = stalledStages
        self.queues = queues
        self.rates = rates
        self.totals = totals
    }

    enum CodingKeys: String, CodingKey {
        case service, pid, ready, summary, dependencies, children, socket, queues, rates, totals, buses, spool, breaker, consumer, pending, shards
        case uptimeSeconds = "uptime_s"
        case stalledStages = "stalled_stages"
        case hubID = "hub_id"
        case consumerLag = "consumer_lag"
    }
}
