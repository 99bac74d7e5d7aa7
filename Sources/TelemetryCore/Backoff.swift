/// Exponential backoff, the one definition every retry loop of the project uses: the wait after
/// `n` consecutive failures is `initial × 2ⁿ⁻¹`, capped at `maximum`, and with full jitter
/// (AWS's "full jitter": uniform in `0...cap`) when asked, from a generator the caller passes so
/// tests can fix it.
///
/// As a value for a loop:
///
/// ```swift
/// var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
/// while true {
///     do { try await attempt(); backoff.reset(); break }
///     catch { try await Task.sleep(for: backoff.next()) }
/// }
/// ```
///
/// Integer milliseconds throughout, saturating: no failure count overflows or goes negative.
public struct Backoff: Sendable, Hashable {
    /// The wait after the first failure, in milliseconds (at least 0).
    public let initialMillis: Int64
    /// The largest wait, in milliseconds (it wins over `initialMillis` when smaller).
    public let maximumMillis: Int64
    /// Consecutive failures counted by ``next()`` since the last ``reset()``.
    public private(set) var failures = 0

    /// A backoff starting at `initialMillis` and capped at `maximumMillis`; negative values count as 0.
    public init(initialMillis: Int64, maximumMillis: Int64) {
        self.initialMillis = max(0, initialMillis)
        self.maximumMillis = max(0, maximumMillis)
    }

    /// A backoff starting at `initial` and capped at `maximum`, both rounded down to whole milliseconds.
    public init(initial: Duration, maximum: Duration) {
        self.init(initialMillis: initial.wholeMilliseconds, maximumMillis: maximum.wholeMilliseconds)
    }

    /// The cap of the wait after `failures` consecutive failures: 0 for none, then
    /// `initial × 2^(failures - 1)` up to `maximum`.
    public func capMillis(afterFailures failures: Int) -> Int64 {
        guard failures > 0 else { return 0 }
        let exponent = min(failures - 1, 62)
        let (scaled, overflow) = initialMillis.multipliedReportingOverflow(by: Int64(1) << Int64(exponent))
        return overflow ? maximumMillis : min(maximumMillis, scaled)
    }

    /// The wait after `failures` consecutive failures, with full jitter: uniform in `0...cap`.
    public func jitteredMillis<G: RandomNumberGenerator>(afterFailures failures: Int, using generator: inout G) -> Int64 {
        let cap = capMillis(afterFailures: failures)
        return cap == 0 ? 0 : Int64.random(in: 0...cap, using: &generator)
    }

    /// Counts one more failure and returns the wait before the next try (no jitter).
    public mutating func next() -> Duration {
        failures = failures == .max ? failures : failures + 1
        return .milliseconds(capMillis(afterFailures: failures))
    }

    /// After a success: the next failure waits `initial` again.
    public mutating func reset() { failures = 0 }
}

extension Duration {
    /// Whole milliseconds, rounded down, saturating at `Int64` bounds.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        return scaled.addingSaturating(attoseconds / 1_000_000_000_000_000)
    }
}
