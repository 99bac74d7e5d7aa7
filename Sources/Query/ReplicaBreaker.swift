/// The lag circuit breaker of one read replica, as a pure state machine: no I/O, no clock of its
/// own. The prober feeds it each probe's outcome (the measured lag, or a failure) and the time,
/// in milliseconds of a monotonic clock; a read asks ``admits`` whether the replica may serve it.
///
/// - **closed**: the replica serves reads. A probe measuring more than `maxLagSeconds`, or
///   `maxFailures` failures in a row (probes or reads), opens it.
/// - **open**: no reads for `openSeconds`; probes go on (so the lag stays known).
/// - **half-open**: the open time is over; still no reads, and the next probe decides: one within
///   the lag limit closes the breaker, a failed or lagging one opens it again for `openSeconds`.
///   A new breaker starts here: a replica whose lag was never measured serves nothing.
public struct ReplicaBreaker: Sendable, Equatable {
    /// What the breaker is configured with (`read.max_lag_s`, `read.max_failures`, `read.open_s`).
    public struct Settings: Sendable, Equatable {
        /// Lag above which the replica stops serving reads, in seconds.
        public var maxLagSeconds: Double
        /// Consecutive failures that open the breaker.
        public var maxFailures: Int
        /// How long the breaker stays open before a probe may close it, in milliseconds.
        public var openMillis: Int64

        /// Settings of `maxLagSeconds` (5), `maxFailures` (5) and `openSeconds` (60).
        public init(maxLagSeconds: Double = 5, maxFailures: Int = 5, openSeconds: Double = 60) {
            self.maxLagSeconds = maxLagSeconds
            self.maxFailures = max(1, maxFailures)
            // A configured value cannot trap here: NaN and negatives are 0, huge ones saturate.
            let millis = (openSeconds * 1000).rounded()
            self.openMillis = millis.isNaN || millis <= 0 ? 0 : millis >= 9.2e18 ? .max : Int64(millis)
        }
    }

    /// Where the breaker is.
    public enum State: Sendable, Equatable {
        /// Serving reads; `failures` in a row so far.
        case closed(failures: Int)
        /// Not serving until `untilMillis`; `reason` says why it opened.
        case open(untilMillis: Int64, reason: String)
        /// The open time is over: the next probe decides.
        case halfOpen
    }

    /// The settings.
    public let settings: Settings
    /// The state now (after the last event fed in); half-open until the first probe.
    public private(set) var state: State = .halfOpen
    /// The lag of the last successful probe, in seconds; nil before the first one.
    public private(set) var lastLagSeconds: Double?

    /// A breaker that waits for its first probe (half-open).
    public init(settings: Settings) {
        self.settings = settings
    }

    /// Whether a read may go to the replica at `nowMillis`: only while closed. Moves an open
    /// breaker whose time is over to half-open (which still refuses: the next probe decides).
    public mutating func admits(nowMillis: Int64) -> Bool {
        expire(nowMillis: nowMillis)
        if case .closed = state { return true }
        return false
    }

    /// A probe measured `lagSeconds` at `nowMillis`. A lag that is not a finite number counts
    /// as a failure: a replica whose lag cannot be told must not serve.
    public mutating func probeSucceeded(lagSeconds: Double, nowMillis: Int64) {
        guard lagSeconds.isFinite else {
            failed(nowMillis: nowMillis, reason: "lag unknown")
            return
        }
        lastLagSeconds = max(0, lagSeconds)
        expire(nowMillis: nowMillis)
        let lagging = lagSeconds > settings.maxLagSeconds
        switch state {
        case .closed, .halfOpen:
            state = lagging ? open(nowMillis, "lag \(Self.seconds(lagSeconds)) s over \(Self.seconds(settings.maxLagSeconds)) s") : .closed(failures: 0)
        case .open:
            break  // stays open until its time is over
        }
    }

    /// A probe or a read failed at `nowMillis` (`reason` says how).
    public mutating func failed(nowMillis: Int64, reason: String) {
        expire(nowMillis: nowMillis)
        switch state {
        case .closed(let failures):
            let count = failures + 1
            state = count >= settings.maxFailures ? open(nowMillis, "\(count) failures in a row, last: \(reason)") : .closed(failures: count)
        case .halfOpen:
            state = open(nowMillis, "probe failed: \(reason)")
        case .open:
            break
        }
    }

    /// A name for the state, for status documents and metrics: `closed`, `open`, `half_open`.
    public var stateName: String {
        switch state {
        case .closed: "closed"
        case .open: "open"
        case .halfOpen: "half_open"
        }
    }

    private mutating func expire(nowMillis: Int64) {
        if case .open(let until, _) = state, nowMillis >= until { state = .halfOpen }
    }

    private func open(_ nowMillis: Int64, _ reason: String) -> State {
        let (until, overflow) = nowMillis.addingReportingOverflow(settings.openMillis)
        return .open(untilMillis: overflow ? .max : until, reason: reason)
    }

    private static func seconds(_ value: Double) -> String {
        value.isFinite ? String(Double(Int((value * 10).rounded())) / 10) : "?"
    }
}
