/// A daemon's status: what `GET /v1/status` on its control socket returns and what
/// `telemetryctl status` prints. The daemons encode it and the CLI decodes it, so the two sides
/// cannot drift apart. JSON keys are snake_case; fields a daemon does not have are absent.
public struct StatusDocument: Codable, Sendable, Equatable {
    /// One supervised child of the daemon.
    public struct Child: Codable, Sendable, Equatable {
        /// The child's name (`publisher`, `worker-3`).
        public var name: String
        /// `running`, `backing_off`, `failed`, …: the supervisor's state name.
        public var state: String
        /// Times the supervisor restarted it after a failure.
        public var restarts: Int
        /// `last_error`: its last failure's message; absent until it first fails, kept after.
        public var lastError: String?
        /// Epoch milliseconds of the last error.
        public var lastErrorAtMillis: Int64?

        /// A child's entry, as the daemon fills it from its supervisor's view of the child.
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
        /// The bus's configured name.
        public var name: String
        /// Its driver: `simulated`, `uart_lines`, `modbus_rtu` or `bme280`.
        public var kind: String
        /// True while the device is open.
        public var connected: Bool
        /// Readings accepted since start: lines parsed, Modbus polls answered, measurements taken.
        public var readings: Int
        /// Samples read since start (a reading can hold several).
        public var samples: Int
        /// Times the device was opened again after it failed or went away.
        public var reconnects: Int
        /// `dead_letters`: unreadable inputs of this bus sent to the dead-letter stream.
        public var deadLetters: Int
        /// Errors counted by kind (only kinds seen).
        public var errors: [String: Int]
        /// Driver-specific detail (a port, an address).
        public var detail: String?
        /// `last_error`: the bus's last error message; absent when it had none.
        public var lastError: String?
        /// `last_error_at_ms`: epoch milliseconds of the last error.
        public var lastErrorAtMillis: Int64?

        /// A bus's entry.
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
        /// Batches waiting in the spool.
        public var records: Int
        /// Bytes the spool uses on disk.
        public var bytes: Int
        /// `max_bytes`: the spool's limit (`spool.max_bytes`), where its full policy applies.
        public var maxBytes: Int
        /// The spool's directory (`spool.dir`).
        public var directory: String

        /// The spool's entry.
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
        /// The shard's index.
        public var shard: Int
        /// Entries in the shard's stream (`XLEN`).
        public var length: Int
        /// Entries not yet delivered to the group; absent when Redis cannot tell.
        public var lag: Int?
        /// Entries delivered to the group but not yet acknowledged.
        public var pending: Int
        /// `present`, or `missing` (the group is gone: a FLUSHALL, a failover).
        public var group: String

        /// A shard's entry.
        public init(shard: Int, length: Int, lag: Int?, pending: Int, group: String) {
            self.shard = shard
            self.length = length
            self.lag = lag
            self.pending = pending
            self.group = group
        }
    }

    /// One PostgreSQL node the query daemon reads (the primary or a replica).
    public struct ReadNode: Codable, Sendable, Equatable {
        /// `primary` or the replica's configured name.
        public var name: String
        /// `primary`, `read` or `analytics`.
        public var role: String
        /// The breaker: `closed`, `open` or `half_open` (the primary: `reachable` or `unreachable`).
        public var state: String
        /// The last measured lag, in seconds (the primary: 0).
        public var lagSeconds: Double?
        /// Reads running on it now.
        public var inUse: Int

        /// A node's entry.
        public init(name: String, role: String, state: String, lagSeconds: Double?, inUse: Int) {
            self.name = name
            self.role = role
            self.state = state
            self.lagSeconds = lagSeconds
            self.inUse = inUse
        }

        enum CodingKeys: String, CodingKey {
            case name, role, state
            case lagSeconds = "lag_s"
            case inUse = "in_use"
        }
    }

    // Every daemon.
    /// The daemon's name: `telemetry-hub` or `telemetry-processor`.
    public var service: String
    /// The daemon's process id.
    public var pid: Int
    /// `uptime_s`: seconds since the process started.
    public var uptimeSeconds: Int
    /// What `GET /ready` says: true when the daemon can do its work.
    public var ready: Bool
    /// The one-line summary also sent as systemd's `STATUS=`.
    public var summary: String
    /// Each dependency's state in words (`reachable`, `unreachable (spooling)`, …).
    public var dependencies: [String: String]
    /// Every supervised child, in the order the supervisor added them.
    public var children: [Child]
    /// Stages the watchdog sees as stalled (pings stop while any is).
    public var stalledStages: [String]
    /// The control socket that answered (added by the socket).
    public var socket: String?
    /// Queue depths and capacities by name, each in its own unit (`buffer_batches`, `worker_queues`).
    public var queues: [String: Int]
    /// Per-second rates over about the last 10 s, by name (`samples_read_per_s`).
    public var rates: [String: Double]
    /// Counts since the process started by name (`samples_stored`, `dead_letters`).
    public var totals: [String: Int]

    // The hub.
    /// `hub_id`: the hub's id (`hub.id`).
    public var hubID: String?
    /// The hub's device buses.
    public var buses: [Bus]?
    /// `mqtt`: the hub's MQTT brokers, in the shape of a bus (kind `mqtt`; `readings` are messages
    /// stored, `reconnects` sessions after the first, `detail` the URL, client id and protocol).
    public var brokers: [Bus]?
    /// The hub's spool.
    public var spool: Spool?
    /// `closed` or `open`.
    public var breaker: String?

    // The processor.
    /// The processor's consumer name in the consumer group (`consumer.name`).
    public var consumer: String?
    /// Entries of every shard not yet delivered to the group; absent when unknown.
    public var consumerLag: Int?
    /// Entries of every shard delivered to the group but not yet acknowledged.
    public var pending: Int?
    /// Each shard stream, in shard order.
    public var shards: [Shard]?

    /// The primary's replication slots (the change feed's subscribers and slot readers, standbys).
    public var slots: [Slot]?

    /// A replication slot of the processor's PostgreSQL primary and the WAL it holds back.
    public struct Slot: Codable, Sendable, Equatable {
        /// `slot_name`.
        public var name: String
        /// `logical` or `physical`.
        public var kind: String
        /// Whether a reader is connected.
        public var active: Bool
        /// PostgreSQL's `wal_status`: `reserved`, `extended`, `unreserved` (past the limit, about to
        /// be lost) or `lost` (the slot can no longer be read).
        public var walStatus: String
        /// WAL the primary keeps for it (bytes from its `restart_lsn` to the current position).
        public var retainedBytes: Int
        /// `max_slot_wal_keep_size` in bytes; nil when unlimited.
        public var limitBytes: Int?

        /// A slot as `pg_replication_slots` shows it.
        public init(name: String, kind: String, active: Bool, walStatus: String, retainedBytes: Int, limitBytes: Int?) {
            self.name = name
            self.kind = kind
            self.active = active
            self.walStatus = walStatus
            self.retainedBytes = retainedBytes
            self.limitBytes = limitBytes
        }

        enum CodingKeys: String, CodingKey {
            case name, kind, active
            case walStatus = "wal_status"
            case retainedBytes = "retained_bytes"
            case limitBytes = "limit_bytes"
        }
    }

    // The query daemon.
    /// The query daemon's PostgreSQL nodes.
    public var nodes: [ReadNode]?

    /// The fields every daemon has; the hub's and the processor's own are set afterwards.
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
        case service, pid, ready, summary, dependencies, children, socket, queues, rates, totals, buses, spool, breaker, consumer, pending, shards, nodes, slots
        case uptimeSeconds = "uptime_s"
        case stalledStages = "stalled_stages"
        case hubID = "hub_id"
        case consumerLag = "consumer_lag"
        case brokers = "mqtt"
    }
}
