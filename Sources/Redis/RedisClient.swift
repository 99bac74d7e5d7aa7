public import TelemetryCore

/// A Redis connection owned by an actor that runs on a thread of its own.
///
/// Each call runs hiredis synchronously on the client's ``ThreadExecutor``; callers on the
/// cooperative pool just `await` it. A broken connection is dropped and re-established on the
/// next call, so callers see one `connectionLost`/`connectionFailed` error per outage attempt.
///
/// ```swift
/// let redis = RedisClient(endpoint: .init(port: 6379), name: "publisher")
/// let replies = try await redis.pipeline([["PING"], ["XLEN", "telemetry:stream:0"]])
/// ```
public actor RedisClient {
    /// The server the client connects to.
    public nonisolated let endpoint: RedisEndpoint
    /// Stamped while Redis refuses this client's must-succeed writes with error replies (OOM,
    /// READONLY, MISCONF), so the watchdog sees a stall instead of an endless "waiting".
    public nonisolated let refusals: StageHeartbeat?
    private nonisolated let executor: ThreadExecutor
    private var connection: RedisConnection?

    /// The client's own thread: every isolated call, and the hiredis I/O it blocks on, runs there,
    /// never on the cooperative pool.
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Creates the client and its thread; connects on first use.
    public init(endpoint: RedisEndpoint, name: String, refusals: StageHeartbeat? = nil) {
        self.endpoint = endpoint
        self.refusals = refusals
        self.executor = ThreadExecutor(name: "redis-\(name)")
    }

    /// Sends `commands` pipelined and returns their replies; error replies are returned as
    /// ``RESPValue/error(_:)``.
    public func pipeline(_ commands: [RedisCommand]) throws(RedisError) -> [RESPValue] {
        let connection = try connected()
        do {
            return try connection.pipeline(commands)
        } catch {
            self.connection = nil
            throw error
        }
    }

    /// Sends one command; an error reply is thrown as `server`.
    @discardableResult
    public func send(_ command: RedisCommand) throws(RedisError) -> RESPValue {
        let reply = try pipeline([command])[0]
        if case .error(let message) = reply { throw RedisError(.server, message) }
        return reply
    }

    /// Sends one command unless it waited in this client's queue past `deadline` (then it fails
    /// at once, with no I/O: behind a Redis that stopped answering, a queue of callers would each
    /// wait out the connection's timeout in turn).
    @discardableResult
    public func send(_ command: RedisCommand, notAfter deadline: ContinuousClock.Instant) throws(RedisError) -> RESPValue {
        guard ContinuousClock.now < deadline else { throw RedisError(.connectionFailed, "queued past its deadline; not sent") }
        return try send(command)
    }

    /// Drops the connection (the next call reconnects).
    public func disconnect() {
        connection?.close()
        connection = nil
    }

    private func connected() throws(RedisError) -> RedisConnection {
        if let connection, connection.isUsable { return connection }
        let fresh = try RedisConnection(endpoint: endpoint)
        connection = fresh
        return fresh
    }
}

extension RedisClient {
    /// Reads `CONFIG GET appendonly` and `maxmemory-policy` and describes what is not as
    /// Docs/architecture.md requires (`appendonly yes`, `maxmemory-policy noeviction`); empty when all is well.
    public func durabilityProblems() throws(RedisError) -> [String] {
        let replies = try pipeline([["CONFIG", "GET", "appendonly"], ["CONFIG", "GET", "maxmemory-policy"]])
        var problems: [String] = []
        let appendonly = replies[0].array?.last?.string
        if let appendonly, appendonly != "yes" {
            problems.append("redis appendonly is \(appendonly), expected yes (acknowledged data can be lost on a crash)")
        }
        let policy = replies[1].array?.last?.string
        if let policy, policy != "noeviction" {
            problems.append("redis maxmemory-policy is \(policy), expected noeviction (streams can be evicted)")
        }
        return problems
    }
}

extension RedisClient {
    /// Sends `command` until Redis accepts it, waiting with exponential backoff (50 ms to 5 s)
    /// through connection failures and error replies; `onFailure` reports each failed try.
    /// For writes that must not be lost (acknowledgements, dead letters, retry state): a cancelled
    /// task keeps trying too, and still waits out each backoff (the pause is not cancelled), so a
    /// shutdown during an outage never turns this into a busy loop.
    public nonisolated func sendRetrying(_ command: RedisCommand, onFailure: (RedisError, Duration) -> Void) async -> RESPValue {
        var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(5))
        while true {
            do {
                let reply = try await send(command)
                refusals?.idle()
                return reply
            } catch {
                if error.code == .server { refusals?.beatOnce() }
                let wait = backoff.next()
                onFailure(error, wait)
                // Detached, so the caller's cancellation does not end the pause early.
                await Task.detached { try? await Task.sleep(for: wait) }.value
            }
        }
    }
}
