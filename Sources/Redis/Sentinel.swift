#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TelemetryCore

/// Where the master of a Sentinel-monitored Redis is found: the Sentinels to ask and the name
/// they know the master by (`redis.sentinels`, `redis.master_name`; Docs/high-availability.md).
public struct SentinelSettings: Sendable, Hashable, CustomStringConvertible {
    /// The Sentinels, `host:port` each, asked in turn.
    public var sentinels: [HostPort]
    /// The master's name in the Sentinels' configuration (`sentinel monitor <name> …`).
    public var masterName: String
    /// How long one Sentinel may take to connect and answer before the next is asked.
    public var timeout: Duration
    /// The Sentinels' own ACL user (`redis.sentinel_username`); nil: the default user.
    public var username: String?
    /// The Sentinels' own password (`redis.sentinel_password`), for Sentinels with `requirepass`
    /// or ACL users; nil: none.
    public var password: String?

    /// Settings for `masterName` as known by `sentinels`.
    public init(sentinels: [HostPort], masterName: String, timeout: Duration = .milliseconds(500), username: String? = nil, password: String? = nil) {
        self.sentinels = sentinels
        self.masterName = masterName
        self.timeout = timeout
        self.username = username
        self.password = password
    }

    /// The endpoint of one Sentinel, with the Sentinels' credentials (named in its messages).
    func endpoint(_ sentinel: HostPort) -> RedisEndpoint {
        var endpoint = RedisEndpoint(host: sentinel.host, port: sentinel.port, timeout: timeout, username: username, password: password)
        endpoint.credentialKeys = "redis.sentinel_"
        return endpoint
    }

    /// `master <name> via <sentinel>, …`.
    public var description: String { "master \(masterName) via \(sentinels.map(\.description).joined(separator: ", "))" }
}

/// A host and a TCP port (`10.0.0.5:26379`, `[::1]:26379`).
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    /// The host name or address.
    public var host: String
    /// The TCP port.
    public var port: Int

    /// `host`:`port`.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (an IPv6 address in brackets: `[::1]:26379`); nil unless the port is
    /// 1…65535, or for an IPv6 address without brackets (`::1:26379` is ambiguous).
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") || host.contains("[") || host.contains("]") {
            return nil
        }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        self.init(host: host, port: port)
    }

    /// `host:port`, an IPv6 address in brackets.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The decisions of the Sentinel client protocol (https://redis.io/docs/latest/develop/reference/sentinel-clients/),
/// without I/O, so they are unit tested on their own.
public enum SentinelProtocol {
    /// The master's address in a `SENTINEL get-master-addr-by-name` reply (`[ip, port]`); nil for
    /// a Sentinel that does not know the master (a null reply) or an error.
    public static func masterAddress(_ reply: RESPValue) -> HostPort? {
        guard let parts = reply.array, parts.count == 2, let host = parts[0].string, !host.isEmpty,
              let port = parts[1].int, (1...65535).contains(port) else { return nil }
        return HostPort(host: host, port: port)
    }

    /// Whether a `ROLE` reply says master: a Sentinel may answer with an address whose server
    /// has not taken the role yet (or lost it), and writing there would be lost or refused.
    public static func isMaster(_ role: RESPValue) -> Bool {
        role.array?.first?.string == "master"
    }

    /// The new master announced by a `+switch-master` message for `masterName`
    /// (`<name> <old-ip> <old-port> <new-ip> <new-port>`, as the third element of a pub/sub
    /// `message` reply); nil for another master or anything else.
    public static func switchMaster(_ message: RESPValue, masterName: String) -> HostPort? {
        guard let parts = message.array, parts.count == 3, parts[0].string == "message", parts[1].string == "+switch-master",
              let text = parts[2].string else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count == 5, fields[0] == masterName, let port = Int(fields[4]), (1...65535).contains(port) else { return nil }
        return HostPort(host: String(fields[3]), port: port)
    }

    /// Whether an error reply means the connection is not to the master any more: `READONLY`
    /// (a demoted master, now a replica), `LOADING` (a restarted server), `MASTERDOWN`.
    public static func meansNotMaster(_ errorReply: String) -> Bool {
        errorReply.hasPrefix("READONLY") || errorReply.hasPrefix("LOADING") || errorReply.hasPrefix("MASTERDOWN")
    }

    /// Whether the last master found may serve after no Sentinel gave a usable master, given the
    /// addresses the Sentinels that answered named: only when none of them named another one.
    /// Once a Sentinel names a new master (still being promoted, or unreachable from here), the
    /// old one is being replaced, and writes it still accepts would be thrown away with it.
    public static func mayFallBack(to lastKnown: HostPort, named: [HostPort]) -> Bool {
        named.allSatisfy { $0 == lastKnown }
    }

    /// The Sentinels in the order to ask them next time: the one that answered first (the
    /// protocol's advice, so a working Sentinel keeps being asked first).
    public static func promoting(_ answered: Int, in sentinels: [HostPort]) -> [HostPort] {
        guard sentinels.indices.contains(answered), answered > 0 else { return sentinels }
        var order = sentinels
        order.insert(order.remove(at: answered), at: 0)
        return order
    }
}

/// What a process believes about its master, and how each event changes it, without I/O (so
/// ``MasterResolver``'s decisions are unit tested on their own). The ``generation`` moves only
/// when the master's address changes: every connection made under an older one is dropped.
public struct MasterBelief: Sendable, Equatable {
    /// The master connections may use now; nil: ask the Sentinels first.
    public var master: HostPort?
    /// The last master found: the fallback when no Sentinel answers (checked with ROLE).
    public var lastKnown: HostPort?
    /// Bumped only when the master's address changes.
    public var generation = 0
    /// The address last announced or polled while it differed from ``lastKnown``: the poll
    /// saying it again every second drops nothing more (nor voids a resolution under way).
    public var announced: HostPort?

    /// Nothing known yet.
    public init() {}

    /// An error on a connection made under `generation` (refused, lost, READONLY/LOADING/
    /// MASTERDOWN): the master is in doubt, to be asked for again; an error from a connection of
    /// an older generation says nothing about the current master.
    public mutating func failed(generation: Int) {
        guard self.generation == generation else { return }
        master = nil
    }

    /// A Sentinel announced (`+switch-master`) or a poll found `address`: when it differs from
    /// the last master found, every connection is dropped and the next resolution checks it.
    public mutating func observed(_ address: HostPort) {
        guard lastKnown != nil, lastKnown != address, announced != address else { return }
        announced = address
        master = nil
        generation += 1
    }

    /// Takes `address`, found by a resolution that started at generation `started`; nil when a
    /// switch was observed meanwhile (the Sentinels' answer may be the old master): ask again.
    public mutating func adopt(_ address: HostPort, resolvedAt started: Int) -> Int? {
        guard generation == started else { return nil }
        if lastKnown != nil && lastKnown != address { generation += 1 }
        master = address
        lastKnown = address
        announced = nil
        return generation
    }
}

/// The current master of one ``SentinelSettings``, shared by every connection of the process
/// (``shared(for:)``): a connection error, a `READONLY`/`LOADING` reply or a `+switch-master`
/// message seen by any one of them re-resolves it, and every connection made before the change
/// is dropped at its next call (``generation``), so the whole process moves at once.
///
/// Resolution asks the Sentinels in turn (each within ``SentinelSettings/timeout``) and checks the
/// answer with `ROLE` before using it. A watcher thread subscribes to `+switch-master` on a
/// Sentinel and also polls every second (pub/sub messages can be lost).
public final class MasterResolver: Sendable {
    /// The settings this resolver follows.
    public let settings: SentinelSettings
    private struct State {
        var belief = MasterBelief()
        var order: [HostPort]
        var watching = false
        var lastError: String?
    }
    private let state: Mutex<State>
    /// Credentials for the data nodes' `ROLE` check (the Sentinels are asked with their own, from the settings).
    private let credentials: (username: String?, password: String?)

    private struct RegistryKey: Hashable {
        var settings: SentinelSettings
        var username: String?
        var password: String?
    }
    private static let registry = Mutex<[RegistryKey: MasterResolver]>([:])

    /// The process's resolver for `settings` and the data nodes' credentials (one each, so every
    /// connection with them shares it).
    public static func shared(for settings: SentinelSettings, username: String?, password: String?) -> MasterResolver {
        let key = RegistryKey(settings: settings, username: username, password: password)
        return registry.withLock { resolvers in
            if let resolver = resolvers[key] { return resolver }
            let resolver = MasterResolver(settings: settings, username: username, password: password)
            resolvers[key] = resolver
            return resolver
        }
    }

    private init(settings: SentinelSettings, username: String?, password: String?) {
        self.settings = settings
        credentials = (username, password)
        state = Mutex(State(order: settings.sentinels))
    }

    /// Bumped at every change of the master's address: a connection made under an older
    /// generation is stale (dropped at its next call).
    public var generation: Int { state.withLock { $0.belief.generation } }

    /// The master now, resolving it first when it is in doubt (blocking: call from a thread of
    /// its own, as every ``RedisConnection`` runs). When no Sentinel answers (or those that answer
    /// name the last master found, unreachable from them), the last master found is used if it
    /// still says it is the master (`ROLE`), so Sentinels down for maintenance cut nobody off a
    /// healthy master; never once a Sentinel names another one. Throws `connectionFailed` when
    /// neither works.
    public func master() throws(RedisError) -> (address: HostPort, generation: Int) {
        startWatching()
        for _ in 0..<3 {
            let (known, started, order, lastKnown) = state.withLock { ($0.belief.master, $0.belief.generation, $0.order, $0.belief.lastKnown) }
            if let known { return (known, started) }
            let address: HostPort
            var newOrder = order
            switch resolve(order: order) {
            case .found(let found, let order):
                address = found
                newOrder = order
            case .failed(let error, let named):
                guard let lastKnown, SentinelProtocol.mayFallBack(to: lastKnown, named: named), (try? check(lastKnown)) == true else { throw error }
                address = lastKnown
            }
            let taken = state.withLock { state -> Int? in
                guard let generation = state.belief.adopt(address, resolvedAt: started) else { return nil }
                state.order = newOrder
                return generation
            }
            if let taken { return (address, taken) }
        }
        throw RedisError(.connectionFailed, "the master of \(settings.masterName) kept changing while the Sentinels were asked")
    }

    /// Puts the master in doubt after an error on a connection of `generation` (a refused
    /// connection, a lost one, a READONLY/LOADING/MASTERDOWN reply): the next ``master()`` asks the
    /// Sentinels. Connections are dropped only if the answer is another address.
    public func invalidate(generation: Int) {
        state.withLock { $0.belief.failed(generation: generation) }
    }

    /// Whether the server at `address` says it is the master (`ROLE`); throws when it cannot be asked.
    private func check(_ address: HostPort) throws(RedisError) -> Bool {
        let node = try RedisConnection(endpoint: RedisEndpoint(host: address.host, port: address.port, timeout: settings.timeout,
                                                               username: credentials.username, password: credentials.password))
        defer { node.close() }
        return SentinelProtocol.isMaster(try node.send(["ROLE"]))
    }

    /// What asking the Sentinels gave: a checked master and the order to ask them next time, or
    /// an error and the addresses the Sentinels that answered named.
    private enum Resolution {
        case found(HostPort, order: [HostPort])
        case failed(RedisError, named: [HostPort])
    }

    /// Asks the Sentinels in `order`.
    private func resolve(order: [HostPort]) -> Resolution {
        var problems: [String] = []
        var named: [HostPort] = []
        for (index, sentinel) in order.enumerated() {
            guard let candidate = ask(sentinel, &problems) else { continue }
            named.append(candidate)
            // The Sentinel's answer is checked with the server itself.
            do {
                guard try check(candidate) else {
                    problems.append("\(sentinel) named \(candidate), which is not a master (yet)")
                    continue
                }
                return .found(candidate, order: SentinelProtocol.promoting(index, in: order))
            } catch {
                problems.append("\(sentinel) named \(candidate), which did not answer: \(error.message)")
            }
        }
        let message = "no Sentinel gave a reachable master for \(settings.masterName): " + problems.joined(separator: "; ")
        state.withLock { $0.lastError = message }
        return .failed(RedisError(.connectionFailed, message), named: named)
    }

    private func ask(_ sentinel: HostPort, _ problems: inout [String]) -> HostPort? {
        do {
            let connection = try RedisConnection(endpoint: settings.endpoint(sentinel))
            defer { connection.close() }
            let reply = try connection.send(["SENTINEL", "get-master-addr-by-name", settings.masterName])
            guard let address = SentinelProtocol.masterAddress(reply) else {
                problems.append("\(sentinel) does not know master \(settings.masterName)")
                return nil
            }
            return address
        } catch {
            problems.append("\(sentinel): \(error.message)")
            return nil
        }
    }

    /// Starts the watcher thread once: `+switch-master` messages, and a poll every second.
    private func startWatching() {
        let start = state.withLock { state -> Bool in
            defer { state.watching = true }
            return !state.watching
        }
        guard start else { return }
        let executor = ThreadExecutor(name: "sentinel-watch")
        Task.detached { [self] in await Watcher(resolver: self, executor: executor).run() }
    }

    /// Takes the address a Sentinel announced or a poll found, when it differs from the last
    /// master found: every connection is dropped, and the next ``master()`` checks it (ROLE).
    fileprivate func observed(_ address: HostPort) {
        state.withLock { $0.belief.observed(address) }
    }

    fileprivate var currentMaster: HostPort? { state.withLock { $0.belief.lastKnown } }
    fileprivate var sentinelOrder: [HostPort] { state.withLock { $0.order } }

    /// The watcher, on a thread of its own (it blocks reading the subscription).
    private actor Watcher {
        let resolver: MasterResolver
        private nonisolated let executor: ThreadExecutor
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

        init(resolver: MasterResolver, executor: ThreadExecutor) {
            self.resolver = resolver
            self.executor = executor
        }

        func run() {
            let settings = resolver.settings
            var subscription: RedisConnection?
            var lastPoll = ContinuousClock.now - .seconds(2)
            while true {
                if subscription == nil {
                    for sentinel in resolver.sentinelOrder {
                        // An error reply (a Sentinel user without `&+switch-master`) is no
                        // subscription: the next Sentinel is tried, and the poll goes on anyway.
                        guard let connection = try? RedisConnection(endpoint: settings.endpoint(sentinel)),
                              let reply = try? connection.send(["SUBSCRIBE", "+switch-master"]),
                              reply.array?.first?.string == "subscribe" else { continue }
                        subscription = connection
                        break
                    }
                }
                if let connection = subscription {
                    do throws(RedisError) {
                        // Up to 300 ms for a message, then the poll below.
                        if let message = try connection.readReply(waiting: .milliseconds(300)),
                           let address = SentinelProtocol.switchMaster(message, masterName: settings.masterName) {
                            resolver.observed(address)
                        }
                    } catch {
                        connection.close()
                        subscription = nil
                    }
                } else {
                    usleep(300_000)
                }
                if ContinuousClock.now - lastPoll >= .seconds(1) {
                    lastPoll = ContinuousClock.now
                    poll(settings)
                }
            }
        }

        private func poll(_ settings: SentinelSettings) {
            guard resolver.currentMaster != nil else { return }
            for sentinel in resolver.sentinelOrder {
                guard let connection = try? RedisConnection(endpoint: settings.endpoint(sentinel)),
                      let reply = try? connection.send(["SENTINEL", "get-master-addr-by-name", settings.masterName]) else { continue }
                connection.close()
                if let address = SentinelProtocol.masterAddress(reply) { resolver.observed(address) }
                return
            }
        }
    }
}
