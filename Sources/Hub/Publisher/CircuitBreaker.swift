import TelemetryCore

/// The publisher's circuit breaker around Redis, as a pure state machine (no I/O, no clock of
/// its own): the publisher reports outcomes and asks whether it may try Redis now.
///
/// `closed` → a failure opens it; `open` → after `probeInterval` one attempt is allowed
/// (`halfOpen`); its success closes the breaker, its failure opens it again with the interval
/// doubled up to `maxProbeInterval`.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed
        case open(retryAtMillis: Int64)
        case halfOpen
    }

    public private(set) var state: State = .closed
    public private(set) var consecutiveFailures = 0
    public let probeIntervalMillis: Int64
    public let maxProbeIntervalMillis: Int64

    public init(probeIntervalMillis: Int64 = 500, maxProbeIntervalMillis: Int64 = 5000) {
        self.probeIntervalMillis = probeIntervalMillis
        self.maxProbeIntervalMillis = maxProbeIntervalMillis
    }

    /// Whether an attempt may be made at `now`; moves `open` to `halfOpen` when the probe is due.
    public mutating func allowsAttempt(nowMillis: Int64) -> Bool {
        switch state {
        case .closed, .halfOpen:
            return true
        case .open(let retryAt):
            guard nowMillis >= retryAt else { return false }
            state = .halfOpen
            return true
        }
    }

    public mutating func recordSuccess() {
        state = .closed
        consecutiveFailures = 0
    }

    public mutating func recordFailure(nowMillis: Int64) {
        consecutiveFailures += 1
        let backoff = Backoff(initialMillis: probeIntervalMillis, maximumMillis: maxProbeIntervalMillis)
        state = .open(retryAtMillis: nowMillis.addingSaturating(backoff.capMillis(afterFailures: consecutiveFailures)))
    }

    /// `closed`, `open` or `half_open`, for status and metrics.
    public var name: String {
        switch state {
        case .closed: "closed"
        case .open: "open"
        case .halfOpen: "half_open"
        }
    }
}
