/// How fresh a read must be (`?consistency=` or `X-Consistency-Level`; default `eventual`).
public enum Consistency: String, Sendable, CaseIterable {
    /// The primary only.
    case strong
    /// The cache for `latest`, else a healthy read replica, else the primary.
    case eventual
    /// Read your own writes: a node that has committed the batches an ingest token names.
    case session
    /// A replica configured for long queries, never the primary.
    case analytics

    /// The level a request asks for: the query parameter, else the header, else `eventual`;
    /// nil for a value that names no level (a 400 naming the parameter).
    public static func requested(parameter: String?, header: String?) -> Consistency?? {
        guard let raw = parameter ?? header else { return .some(.eventual) }
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        let trimmed = raw.drop(while: blank).reversed().drop(while: blank).reversed()
        return .some(Consistency(rawValue: String(trimmed).lowercased()))
    }
}

/// What a replica is for (`postgres.replica.<name>.role`).
public enum ReplicaRole: String, Sendable, CaseIterable {
    /// Serves eventual and session reads.
    case read
    /// Serves analytics reads (long queries, its own statement timeout).
    case analytics
}

/// Where one attempt at a read goes.
public enum ReadSource: Sendable, Equatable, CustomStringConvertible {
    /// The Redis hot-attribute cache (`latest` only).
    case cache
    /// A replica, by name.
    case replica(String)
    /// The primary.
    case primary
    /// The primary as the fallback of eventual reads when read replicas are configured but none
    /// serves this read, under `read.primary_fallback_concurrency`.
    case primaryFallback

    /// `cache`, `replica:<name>` or `primary`: the `X-Data-Source` header.
    public var description: String {
        switch self {
        case .cache: "cache"
        case .replica(let name): "replica:\(name)"
        case .primary, .primaryFallback: "primary"
        }
    }
}

/// The order in which a read tries its sources: a pure function of the consistency level, the
/// kind of read and the replicas' breakers, so the routing is tested without any server.
public enum ReadRouter {
    /// One replica as the router sees it.
    public struct Replica: Sendable, Equatable {
        /// Its configured name.
        public var name: String
        /// What it serves.
        public var role: ReplicaRole
        /// Whether its breaker admits reads now.
        public var admits: Bool

        /// A replica named `name` with `role`, admitting reads when `admits`.
        public init(name: String, role: ReplicaRole, admits: Bool) {
            self.name = name
            self.role = role
            self.admits = admits
        }
    }

    /// The sources to try, in order, for a read at `consistency`; `latest` says whether the read
    /// is of latest values (the only one the cache holds). Empty means refused: an analytics read
    /// with no healthy analytics replica (503).
    public static func plan(_ consistency: Consistency, latest: Bool, cache: Bool, replicas: [Replica]) -> [ReadSource] {
        let readers = replicas.filter { $0.role == .read && $0.admits }.map { ReadSource.replica($0.name) }
        switch consistency {
        case .strong:
            return [.primary]
        case .eventual:
            // With read replicas configured, every eventual read that reaches the primary (none
            // healthy, or the healthy ones busy or failing) is under the fallback cap; without
            // any, the primary is simply where eventual reads run.
            let configured = replicas.contains { $0.role == .read }
            return (latest && cache ? [.cache] : []) + readers + [configured ? .primaryFallback : .primary]
        case .session:
            // Each replica is asked whether it has the batches (waiting up to wait_ms), then the primary.
            return readers + [.primary]
        case .analytics:
            return replicas.filter { $0.role == .analytics && $0.admits }.map { ReadSource.replica($0.name) }
        }
    }
}
