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

    /// An endpoint; by default the local server on 6379 with a 5 s timeout and no credentials.
    public init(host: String = "127.0.0.1", port: Int = 6379, timeout: Duration = .seconds(5), username: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.timeout = timeout
        self.username = username
        self.password = password
    }

    /// `host:port` (never the credentials).
    public var description: String { "\(host):\(port)" }
}

/// One synchronous hiredis connection. Every call blocks its thread: use it from an actor
/// pinned to a ``ThreadExecutor`` (``RedisClient`` does), never from the cooperative pool.
public final class RedisConnection {
    private var context: UnsafeMutablePointer<redisContext>?
    /// The server this connection talks to.
    public let endpoint: RedisEndpoint
    private var buffer: [UInt8] = []

    /// Connects and authenticates, or throws `connectionFailed` (also for refused credentials,
    /// and for a server that requires a password none was configured for, saying which).
    public init(endpoint: RedisEndpoint) throws(RedisError) {
        self.endpoint = endpoint
        let tv = Self.timeval(endpoint.timeout)
        guard let context = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), tv) else {
            throw RedisError(.connectionFailed, "cannot allocate a hiredis context")
        }
        if context.pointee.err != 0 {
            let message = Self.errorString(context)
            redisFree(context)
            throw RedisError(.connectionFailed, "cannot connect to redis at \(endpoint): \(message)")
        }
        redisSetTimeout(context, tv)
        redisEnableKeepAlive(context)
        telemetry_redis_reader_limit(context.pointee.reader)
        self.context = context
        try authenticate()
    }

    /// `AUTH` with the endpoint's credentials; without any, a `PING` tells a server that wants
    /// them (`NOAUTH`) at once, rather than as error replies to every later command.
    private func authenticate() throws(RedisError) {
        guard let password = endpoint.password else {
            if case .error(let message) = try send(["PING"]), message.hasPrefix("NOAUTH") {
                close()
                throw RedisError(.connectionFailed, "redis at \(endpoint) requires authentication (\(message)): set redis.password "
                                 + "(REDIS_PASSWORD or redis.password_file), and redis.username for an ACL user")
            }
            return
        }
        var command: RedisCommand = ["AUTH"]
        if let username = endpoint.username { command.append(username) }
        command.append(password)
        if case .error(let message) = try send(command) {
            close()
            let user = endpoint.username.map { "user \($0)" } ?? "the default user"
            throw RedisError(.connectionFailed, "redis at \(endpoint) refused the credentials of \(user) (\(message)): check redis.username and redis.password")
        }
    }

    deinit { if let context { redisFree(context) } }

    /// True until a command failed at the connection level.
    public var isUsable: Bool { context != nil }

    /// Sends one command and returns its reply (error replies are returned, not thrown).
    public func send(_ command: RedisCommand) throws(RedisError) -> RESPValue {
        try pipeline(CollectionOfOne(command))[0]
    }

    /// Sends `commands` in one write and reads their replies in order.
    public func pipeline<C: Collection<RedisCommand>>(_ commands: C) throws(RedisError) -> [RESPValue] {
        guard let context else { throw RedisError(.connectionLost, "connection to \(endpoint) is closed") }
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
        return replies
    }

    /// Closes the connection.
    public func close() {
        if let context { redisFree(context) }
        context = nil
    }

    private func fail(_ context: UnsafeMutablePointer<redisContext>) -> RedisError {
        let message = Self.errorString(context)
        close()
        return RedisError(.connectionLost, "redis at \(endpoint): \(message.isEmpty ? "connection lost" : message)")
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
