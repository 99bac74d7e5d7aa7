public import Synchronization
public import TelemetryCore

/// The hot-attribute cache (`telemetry:latest:<device>`, Docs/architecture.md): a hash per device
/// of metric name → `"<sortable ts> <value>"`, plus two fields no metric can be named (metric
/// names hold no control characters): `\u{1}w`, the time of the newest data written into it (ms
/// since the epoch: a write-through's time, or the time a fill's data was current), and `\u{1}f`, present once a fill from the database made the entry complete.
///
/// Both writers merge through one script that keeps a field only if its sample time is newer
/// (the rule of `latest_values`): the processors after COMMIT (write-through, which only updates
/// an existing key, never makes an entry complete and never extends its TTL) and the query
/// daemon's fills (which create the key, marked pending, before they read, then make it complete
/// and start its TTL). A slow fill therefore never overwrites a newer value, and a lost
/// write-through is corrected at the latest one TTL after the data the fill read was current.
public enum LatestCache {
    /// One metric's newest value.
    public struct Entry: Sendable, Equatable {
        /// The metric's name.
        public var metric: String
        /// The sample time, µs since the epoch.
        public var timestampMicros: Int64
        /// The value.
        public var value: Double

        /// An entry of `metric`.
        public init(metric: String, timestampMicros: Int64, value: Double) {
            self.metric = metric
            self.timestampMicros = timestampMicros
            self.value = value
        }
    }

    /// What a read of one device's hash found.
    public struct Cached: Sendable, Equatable {
        /// True once a fill completed the entry: only then is it a hit.
        public var complete: Bool
        /// When it was last written through or filled (ms since the epoch).
        public var writtenMillis: Int64?
        /// Its metrics, by name.
        public var entries: [Entry]
    }

    /// The field holding the last write time.
    public static let writtenField = "\u{1}w"
    /// The field marking a complete (filled) entry.
    public static let filledField = "\u{1}f"

    /// The merge: KEYS[1] the device's hash; ARGV[1] `f` (fill) or `w` (write-through), ARGV[2]
    /// the time its data was current (ms; `\u{1}w` keeps the newest), ARGV[3] the TTL (ms), then
    /// field/value pairs. Values start with a
    /// 20-digit sortable time, so a string comparison is a time comparison (no float rounding).
    public static let script = """
        local key = KEYS[1]
        if ARGV[1] == 'w' and redis.call('EXISTS', key) == 0 then return 0 end
        for i = 4, #ARGV, 2 do
          local cur = redis.call('HGET', key, ARGV[i])
          if not cur or string.sub(cur, 1, 20) < string.sub(ARGV[i + 1], 1, 20) then
            redis.call('HSET', key, ARGV[i], ARGV[i + 1])
          end
        end
        local w = redis.call('HGET', key, '\\001w')
        if not w or tonumber(w) < tonumber(ARGV[2]) then redis.call('HSET', key, '\\001w', ARGV[2]) end
        if ARGV[1] == 'f' then
          redis.call('HSET', key, '\\001f', '1')
          redis.call('PEXPIRE', key, ARGV[3])
        elseif redis.call('PTTL', key) < 0 then
          redis.call('PEXPIRE', key, ARGV[3])
        end
        return 1
        """

    /// The field of a key a fill created before reading (a pending fill; not a hit).
    public static let pendingField = "\u{1}p"

    /// Run by a fill before it reads the database: KEYS[1] the device's hash, ARGV[1] a TTL (ms).
    /// Creates the key, marked pending, if it does not exist, so write-throughs from then on
    /// land in it (a write-through never creates a key: Redis holds entries only for devices
    /// someone reads, not for every device written).
    public static let markScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then
          redis.call('HSET', KEYS[1], '\\001p', '1')
          redis.call('PEXPIRE', KEYS[1], ARGV[1])
        end
        return 1
        """

    /// `micros` as 20 digits whose string order is the numeric order (offset by 2⁶³).
    public static func sortable(_ micros: Int64) -> String {
        let digits = String(UInt64(bitPattern: micros) ^ (1 << 63))
        return String(repeating: "0", count: 20 - digits.count) + digits
    }

    /// The inverse of ``sortable(_:)``.
    public static func micros(sortable text: Substring) -> Int64? {
        guard text.count == 20, let raw = UInt64(text) else { return nil }
        return Int64(bitPattern: raw ^ (1 << 63))
    }

    /// The arguments of one merge (after the script or its SHA): `fill` or write-through.
    public static func mergeArguments(key: String, entries: [Entry], nowMillis: Int64, ttlMillis: Int64, fill: Bool) -> [String] {
        var arguments = ["1", key, fill ? "f" : "w", String(nowMillis), String(max(1, ttlMillis))]
        arguments.reserveCapacity(arguments.count + 2 * entries.count)
        for entry in entries {
            arguments.append(entry.metric)
            arguments.append(sortable(entry.timestampMicros) + " " + "\(entry.value)")
        }
        return arguments
    }

    /// A hash as `HGETALL` returned it (field, value, field, value, …).
    public static func decode(_ flat: [String]) -> Cached {
        var cached = Cached(complete: false, writtenMillis: nil, entries: [])
        var index = 0
        while index + 1 < flat.count {
            let (field, value) = (flat[index], flat[index + 1])
            index += 2
            switch field {
            case writtenField: cached.writtenMillis = Int64(value)
            case filledField: cached.complete = true
            case pendingField: continue
            default:
                let parts = value.split(separator: " ", maxSplits: 1)
                guard parts.count == 2, let ts = micros(sortable: parts[0]), let number = Double(parts[1]) else { continue }
                cached.entries.append(Entry(metric: field, timestampMicros: ts, value: number))
            }
        }
        cached.entries.sort { $0.metric < $1.metric }
        return cached
    }

    /// `ttlMillis` shortened by up to 10 %, at random, so entries filled together do not expire
    /// together; never lengthened, so no entry outlives the configured TTL.
    public static func jittered(_ ttlMillis: Int64, using generator: inout some RandomNumberGenerator) -> Int64 {
        let spread = ttlMillis / 10
        guard spread > 0 else { return ttlMillis }
        return ttlMillis - Int64.random(in: 0...spread, using: &generator)
    }
}

/// Writes ``LatestCache`` merges through for the processor, on a connection and a thread of its
/// own: the storage thread hands each committed transaction's newest values over and goes on
/// (one pipelined round trip per transaction, sent in order by one thread). At most
/// `maxPending` transactions wait; past that, and for a second after a failure, write-throughs
/// are skipped and counted: Redis being away or slow must not slow the writer. The entries they
/// would have refreshed expire within one TTL of their fill.
public final class LatestCacheWriter: Sendable {
    private let sender: Sender
    private let pending = Atomic<Int>(0)
    private let maxPending: Int
    /// Transactions whose values were written through, failed, or skipped (queue full, or Redis failing).
    public let written = Atomic<Int>(0), failed = Atomic<Int>(0), skipped = Atomic<Int>(0)

    /// A TTL for an entry found without one (made by hand): write-throughs never keep a key forever.
    static let safetyTTLMillis: Int64 = 120_000

    /// A writer to `endpoint`, with at most `maxPending` transactions waiting.
    public init(endpoint: RedisEndpoint, keys: RedisKeys, name: String = "cache-writer", maxPending: Int = 64) {
        var endpoint = endpoint
        endpoint.timeout = min(endpoint.timeout, .milliseconds(500))
        sender = Sender(endpoint: endpoint, keys: keys, name: name)
        self.maxPending = maxPending
    }

    /// Hands the devices' newest values over to be written through (a nil tenant is the default
    /// tenant, ``RedisKeys/latest(_:tenant:)``); returns at once.
    public func submit(_ devices: [(tenant: String?, device: String, entries: [LatestCache.Entry])], nowMillis: Int64) {
        guard !devices.isEmpty else { return }
        guard pending.add(1, ordering: .relaxed).newValue <= maxPending else {
            pending.subtract(1, ordering: .relaxed)
            skipped.add(1, ordering: .relaxed)
            return
        }
        Task.detached { [self] in
            switch await sender.write(devices, nowMillis: nowMillis) {
            case .written: written.add(1, ordering: .relaxed)
            case .failed: failed.add(1, ordering: .relaxed)
            case .skipped: skipped.add(1, ordering: .relaxed)
            }
            pending.subtract(1, ordering: .relaxed)
        }
    }

    enum Outcome { case written, failed, skipped }

    /// The connection, on its thread.
    private actor Sender {
        private nonisolated let executor: ThreadExecutor
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
        private let endpoint: RedisEndpoint
        private let keys: RedisKeys
        private var connection: RedisConnection?
        private var sha: String?
        private var pausedUntilMillis: Int64 = 0

        init(endpoint: RedisEndpoint, keys: RedisKeys, name: String) {
            self.endpoint = endpoint
            self.keys = keys
            executor = ThreadExecutor(name: name)
        }

        func write(_ devices: [(tenant: String?, device: String, entries: [LatestCache.Entry])], nowMillis: Int64) -> Outcome {
            guard wallClockMicros() / 1000 >= pausedUntilMillis else { return .skipped }
            do throws(RedisError) {
                let connection = try connected()
                if sha == nil { sha = try connection.send(["SCRIPT", "LOAD", LatestCache.script]).string }
                guard let sha else { throw RedisError(.server, "SCRIPT LOAD returned no SHA") }
                let commands = devices.map { device in
                    RedisCommand(["EVALSHA", sha] + LatestCache.mergeArguments(key: keys.latest(device.device, tenant: device.tenant), entries: device.entries,
                                                                                nowMillis: nowMillis, ttlMillis: LatestCacheWriter.safetyTTLMillis,
                                                                                fill: false))
                }
                let replies = try connection.pipeline(commands)
                if let error = replies.lazy.compactMap({ reply -> String? in if case .error(let message) = reply { message } else { nil } }).first {
                    if error.hasPrefix("NOSCRIPT") { self.sha = nil }  // a restarted Redis: loaded again next time
                    throw RedisError(.server, error)
                }
                return .written
            } catch {
                connection?.close()
                connection = nil
                pausedUntilMillis = wallClockMicros() / 1000 + 1000
                return .failed
            }
        }

        private func connected() throws(RedisError) -> RedisConnection {
            if let connection, connection.isUsable { return connection }
            let fresh = try RedisConnection(endpoint: endpoint)
            connection = fresh
            sha = nil
            return fresh
        }
    }
}
