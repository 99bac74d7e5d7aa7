import CHiredis
import CRedisReader
#if canImport(Glibc)
import Glibc
#endif

/// Where a Redis server is.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The server's host name or IP address.
    public var host: String
    /// The server's TCP port.
    public var port: Int
    /// Socket read/write timeout; must exceed any `BLOCK` used on the connection.
    public var timeout: Duration
    /// The ACL user (`AUTH <username> <password>`); nil: the `default` user.
    public var username: String?
    /// The password sent with `AUTH` on every connection; nil: none is sent.
    public var password: String?
    /// When set, the server is the master these Sentinels name (``MasterResolver``), and
    /// ``host`` and ``port`` are not used.
    public var sentinel: SentinelSettings?
    /// When set, the servers are the masters of this Redis Cluster, each command sent to the
    /// master of its keys' slot (``ClusterRouter``); ``host`` and ``port`` are not used.
    public var cluster: ClusterSettings?
    /// Where the credentials come from, for the messages about them: the keys `<this>username`,
    /// `<this>password` and `<this>password_file` (`redis.sentinel_` for a Sentinel).
    public var credentialKeys = "redis."

    /// An endpoint; by default the local server on 6379 with a 5 s timeout and no credentials.
    public init(host: String = "127.0.0.1", port: Int = 6379, timeout: Duration = .seconds(5), username: String? = nil, password: String? = nil,
                sentinel: SentinelSettings? = nil, cluster: ClusterSettings? = nil) {
        self.host = host
        self.port = port
        self.timeout = timeout
        self.username = username
        self.password = password
        self.sentinel = sentinel
        self.cluster = cluster
    }

    /// `host:port`, or the Sentinel or cluster settings (never the credentials).
    public var description: String { cluster?.description ?? sentinel?.description ?? HostPort(host: host, port: port).description }
}

/// One synchronous hiredis connection. Every call blocks its thread: use it from an actor
/// pinned to a ``ThreadExecutor`` (``RedisClient`` does), never from the cooperative pool.
public final class RedisConnection {
    private var context: UnsafeMutablePointer<redisContext>?
    /// The server this connection talks to, as configured.
    public let endpoint: RedisEndpoint
    /// The server it is connected to: the endpoint's, or the master the Sentinels named.
    public let address: HostPort
    private var buffer: [UInt8] = []
    /// With Sentinel: the resolver, and the generation of the master this connection reached.
    private let resolver: MasterResolver?
    private let generation: Int
    /// With a cluster: the router that owns a connection per master (this one holds no socket).
    private let router: ClusterRouter?

    /// Connects and authenticates, or throws `connectionFailed` (also for refused credentials,
    /// and for a server that requires a password none was configured for, saying which). With
    /// Sentinel settings, connects to the master the Sentinels name and checks its `ROLE`.
    public init(endpoint: RedisEndpoint) throws(RedisError) {
        self.endpoint = endpoint
        if endpoint.cluster != nil {
            let router = try ClusterRouter(endpoint: endpoint)
            self.router = router
            address = router.entry
            resolver = nil
            generation = 0
            return
        }
        router = nil
        if let sentinel = endpoint.sentinel {
            let resolver = MasterResolver.shared(for: sentinel, username: endpoint.username, password: endpoint.password)
            (address, generation) = try resolver.master()
            self.resolver = resolver
        } else {
            address = HostPort(host: endpoint.host, port: endpoint.port)
            resolver = nil
            generation = 0
        }
        let tv = Self.timeval(endpoint.timeout)
        guard let context = redisConnectWithTimeout(address.host, Int32(address.port), tv) else {
            throw RedisError(.connectionFailed, "cannot allocate a hiredis context")
        }
        if context.pointee.err != 0 {
            let message = Self.errorString(context)
            redisFree(context)
            resolver?.invalidate(generation: generation)
            throw RedisError(.connectionFailed, "cannot connect to redis at \(address): \(message)")
        }
        redisSetTimeout(context, tv)
        redisEnableKeepAlive(context)
        telemetry_redis_reader_limit(context.pointee.reader)
        self.context = context
        try authenticate()
        if let resolver {
            let role = try send(["ROLE"])
            if case .error(let message) = role {
                close()
                throw RedisError(.connectionFailed, "redis at \(address) refused ROLE (\(message)): with Sentinel, redis.username needs the ROLE command")
            }
            guard SentinelProtocol.isMaster(role) else {
                close()
                resolver.invalidate(generation: generation)
                throw RedisError(.connectionFailed, "redis at \(address) is not the master of \(endpoint.sentinel?.masterName ?? "?") (any more); asking the Sentinels again")
            }
            // The master changed while this connection was being made: not used for a single call.
            guard resolver.generation == generation else {
                close()
                throw RedisError(.connectionFailed, "the master of \(endpoint.sentinel?.masterName ?? "?") changed while connecting to \(address)")
            }
        }
    }

    /// `AUTH` with the endpoint's credentials; without any, a `PING` tells a server that wants
    /// them (`NOAUTH`) at once, rather than as error replies to every later command.
    private func authenticate() throws(RedisError) {
        guard let password = endpoint.password else {
            if case .error(let message) = try send(["PING"]), message.hasPrefix("NOAUTH") {
                close()
                let keys = endpoint.credentialKeys
                let environment = (keys + "password").uppercased().replacingOccurrences(of: ".", with: "_")
                throw RedisError(.connectionFailed, "redis at \(address) requires authentication (\(message)): set \(keys)password "
                                 + "(\(environment) or \(keys)password_file), and \(keys)username for an ACL user")
            }
            return
        }
        var command: RedisCommand = ["AUTH"]
        if let username = endpoint.username { command.append(username) }
        command.append(password)
        if case .error(let message) = try send(command) {
            close()
            let user = endpoint.username.map { "user \($0)" } ?? "the default user"
            throw RedisError(.connectionFailed, "redis at \(address) refused the credentials of \(user) (\(message)): check \(endpoint.credentialKeys)username and \(endpoint.credentialKeys)password")
        }
    }

    deinit { if let context { redisFree(context) } }

    /// True until a command failed at the connection level, or (with Sentinel) the master changed.
    public var isUsable: Bool {
        if let router { return router.isUsable }
        return context != nil && (resolver.map { $0.generation == generation } ?? true)
    }

    /// Sends one command and returns its reply (error replies are returned, not thrown).
    public func send(_ command: RedisCommand) throws(RedisError) -> RESPValue {
        try pipeline(CollectionOfOne(command))[0]
    }

    /// Sends `commands` in one write and reads their replies in order.
    public func pipeline<C: Collection<RedisCommand>>(_ commands: C) throws(RedisError) -> [RESPValue] {
        if let router { return try router.pipeline(Array(commands)) }
        guard let context else { throw RedisError(.connectionLost, "connection to \(address) is closed") }
        buffer.removeAll(keepingCapacity: true)
        for command in commands { command.encode(into: &buffer) }
        let appended = buffer.withUnsafeBufferPointer { raw in
            raw.withMemoryRebound(to: CChar.self) { chars in
                redisAppendFormattedCommand(context, chars.baseAddress, chars.count)
            }
        }
        guard appended == REDIS_OK else { throw fail(context) }
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        for _ in 0..<commands.count {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw fail(context) }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.convert(reply))
            freeReplyObject(raw)
        }
        // A demoted or restarting master: the replies are the caller's, the connection is not kept.
        if let resolver, replies.contains(where: { if case .error(let message) = $0 { SentinelProtocol.meansNotMaster(message) } else { false } }) {
            close()
            resolver.invalidate(generation: generation)
        }
        return replies
    }

    /// The next reply the server pushes (a pub/sub message), waiting at most `timeout` for it;
    /// nil when none came in time (the connection stays usable, unlike a socket timeout, which
    /// leaves a hiredis context broken).
    public func readReply(waiting timeout: Duration) throws(RedisError) -> RESPValue? {
        guard let context else { throw RedisError(.connectionLost, "connection to \(address) is closed") }
        func buffered() throws(RedisError) -> RESPValue? {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReplyFromReader(context, &raw) == REDIS_OK else { throw fail(context) }
            guard let raw else { return nil }
            defer { freeReplyObject(raw) }
            return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
        }
        if let reply = try buffered() { return reply }
        var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        let (seconds, attoseconds) = timeout.components
        let ready = poll(&descriptor, 1, Int32(seconds * 1000 + attoseconds / 1_000_000_000_000_000))
        guard ready > 0 else { return nil }
        guard redisBufferRead(context) == REDIS_OK else { throw fail(context) }
        return try buffered()
    }

    /// Closes the connection.
    public func close() {
        router?.close()
        if let context { redisFree(context) }
        context = nil
    }

    private func fail(_ context: UnsafeMutablePointer<redisContext>) -> RedisError {
        let message = Self.errorString(context)
        close()
        // A read that timed out says nothing about which server is the master; a lost or
        // refused connection may.
        if !message.contains("Resource temporarily unavailable") { resolver?.invalidate(generation: generation) }
        return RedisError(.connectionLost, "redis at \(address): \(message.isEmpty ? "connection lost" : message)")
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        readerError(context.pointee.err, context.pointee.errstr)
    }

    /// hiredis's error text, with what `REDIS_ERR_OOM` means once readers are limited.
    static func readerError<Text>(_ code: Int32, _ text: Text) -> String {
        let message = withUnsafeBytes(of: text) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        guard code == REDIS_ERR_OOM else { return message }
        return "reply refused: an array header over \(TELEMETRY_REDIS_MAX_ARRAY_ELEMENTS) elements, or out of memory"
    }

    static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            return .bulk(Array(UnsafeRawBufferPointer(start: r.str, count: Int(r.len))))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: UnsafeRawBufferPointer(start: r.str, count: Int(r.len)), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: UnsafeRawBufferPointer(start: r.str, count: Int(r.len)), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int(r.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RESPValue] = []
            elements.reserveCapacity(Int(r.elements))
            for i in 0..<Int(r.elements) {
                if let element = r.element[i] { elements.append(convert(element)) } else { elements.append(.null) }
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func timeval(_ duration: Duration) -> Glibc.timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
