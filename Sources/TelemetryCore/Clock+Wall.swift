#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock time in microseconds since the Unix epoch (`CLOCK_REALTIME`).
public func wallClockMicros() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
}

/// Monotonic time in nanoseconds (`CLOCK_MONOTONIC`, what sd_notify's `MONOTONIC_USEC` uses).
public func monotonicNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

extension Duration {
    /// The duration in seconds, for histograms and rates.
    public var totalSeconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
