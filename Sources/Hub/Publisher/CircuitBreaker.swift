import TelemetryCore

/// The publisher's circuit breaker around Redis, as a pure state machine (no I/O, no clock of
/// its own): the publisher reports outcomes and asks whether it may try Redis now.
///
/// `closed` → a failure opens it; `open` → after `probeInterval` one attempt is allowed
/// (`halfOpen`); its success closes the breaker, its failure opens it again with the interval
/// doubled up to `maxProbeInterval`.
package struct CircuitBreaker: Sendable, Equatable {
    package enum State: Sendable, Equatable {
        case closed
        case open(retryAtMillis: Int64)
        case halfOpen
    }

    package private(set) var state: State = .closed
    package private(set) var consecutiveFailures = 0
    package let probeIntervalMillis: Int64
    package let maxProbeIntervalMillis: Int64

    package init(probeIntervalMillis: Int64 = 500, maxProbeIntervalMillis: Int64 = 5000) {
        self.probeIntervalMillis = probeIntervalMillis
        self.maxProbeIntervalMillis = maxProbeIntervalMillis
    }

    /// Whether an attempt may be made at `now`; moves `open` to `halfOpen` when the probe is due.
    package mutating func allowsAttempt(nowMillis: Int64) -> Bool {
        switch state {
        case .closed, .halfOpen:
            return true
        case .open(let retryAt):
            guard nowMillis >= retryAt else { return false }
            state = .halfOpen
            return true
        }
    }

    package mutating func recordSuccess() {
        state = .closed
        consecutiveFailures = 0
    }

    package mutating func recordFailure(nowMillis: Int64) {
        consecutiveFailures += 1
        let backoff = Backoff(initialMillis: probeIntervalMillis, maximumMillis: maxProbeIntervalMillis)
        state = .open(retryAtMillis: nowMillis.addingSaturating(backoff.capMillis(afterFailures: consecutiveFailures)))
    }

    /// `closed`, `open` or `half_open`, for status and metrics.
    package var name: String {
        switch state {
        case .closed: "closed"
        case .open: "open"
        case .halfOpen: "half_open"
        }
    }
}
