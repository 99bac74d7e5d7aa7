import Synchronization

/// A fixed-bucket histogram for Prometheus, filled on hot paths with one lock per batch
/// (``observe(_:)-(some Sequence<Double>)``) and rendered at scrape time.
public final class BucketHistogram: Sendable {
    /// Upper bounds, ascending; `+Inf` is implicit.
    public let bounds: [Double]
    private let state: Mutex<Snapshot>

    /// The histogram's state at one instant.
    public struct Snapshot: Sendable, Equatable {
        /// Non-cumulative counts per bucket; the last is `+Inf`.
        public var counts: [Int]
        /// The sum of every observed value.
        public var sum: Double
        /// The number of observed values.
        public var count: Int
    }

    /// A histogram of `bounds` (upper bounds, at least one, strictly ascending; traps otherwise).
    public init(bounds: [Double]) {
        precondition(!bounds.isEmpty && zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 }, "bounds must ascend")
        self.bounds = bounds
        state = Mutex(Snapshot(counts: Array(repeating: 0, count: bounds.count + 1), sum: 0, count: 0))
    }

    /// Exponential bounds `start, start·factor, …` (`count` of them).
    public static func exponentialBounds(start: Double, factor: Double, count: Int) -> [Double] {
        (0..<count).map { start * pow(factor, Double($0)) }
    }

    /// Counts `value` in the first bucket whose bound is at least `value`; takes the lock once.
    public func observe(_ value: Double) {
        let bucket = index(value)
        state.withLock { s in
            s.counts[bucket] += 1
            s.sum += value
            s.count += 1
        }
    }

    /// Observes many values under one lock.
    public func observe(_ values: some Sequence<Double>) {
        var local = Array(repeating: 0, count: bounds.count + 1)
        var sum = 0.0
        var n = 0
        for value in values {
            local[index(value)] += 1
            sum += value
            n += 1
        }
        guard n > 0 else { return }
        state.withLock { s in
            for i in local.indices where local[i] > 0 { s.counts[i] += local[i] }
            s.sum += sum
            s.count += n
        }
    }

    /// A consistent copy of the counts, sum and count.
    public var snapshot: Snapshot { state.withLock { $0 } }

    private func index(_ value: Double) -> Int {
        var low = 0
        var high = bounds.count
        while low < high {
            let mid = (low + high) / 2
            if value <= bounds[mid] { high = mid } else { low = mid + 1 }
        }
        return low
    }
}

private func pow(_ base: Double, _ exponent: Double) -> Double {
    var result = 1.0
    for _ in 0..<Int(exponent) { result *= base }
    return result
}
