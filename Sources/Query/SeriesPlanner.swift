/// The steps of `GET /v1/series`: raw samples or a rollup table.
public enum SeriesStep: String, Sendable, CaseIterable {
    case raw, oneMinute = "1m", oneHour = "1h", oneDay = "1d"

    /// The bucket width in µs (raw: none).
    public var micros: Int64? {
        switch self {
        case .raw: nil
        case .oneMinute: 60_000_000
        case .oneHour: 3_600_000_000
        case .oneDay: 86_400_000_000
        }
    }

    /// The rollup table of the step.
    var table: String? {
        switch self {
        case .raw: nil
        case .oneMinute: "aggregates_1m"
        case .oneHour: "aggregates_1h"
        case .oneDay: "aggregates_1d"
        }
    }
}

/// The aggregate of a rollup step's buckets.
public enum SeriesAggregate: String, Sendable, CaseIterable {
    case avg, min, max, sum, count, last
}

/// Chooses the step of a series read and bounds its points, without I/O: never an unbounded scan.
public enum SeriesPlanner {
    /// What to read.
    public enum Plan: Sendable, Equatable {
        /// Raw samples, at most `limit` of them (one more is read to tell "too many").
        case raw(limit: Int)
        /// Buckets of `step` from `fromBucket` (the range's start floored to the step).
        case rollup(SeriesStep, fromBucket: Int64, buckets: Int64)
    }

    /// The plan for `[from, to)` at `step` (nil: the planner's choice) with at most `maxPoints`
    /// points, or the 400 that says why not. Without a step the planner takes raw samples when
    /// the range is short enough to hold at most `maxPoints` readings at 1 Hz, else the finest
    /// rollup whose bucket count fits.
    public static func plan(from: Int64, to: Int64, step: SeriesStep?, maxPoints: Int) -> Result<Plan, ReadFailure> {
        guard from < to else { return .failure(QueryParameters.bad("from", "must be before to")) }
        let span = to.subtractingReportingOverflow(from)
        guard !span.overflow else { return .failure(QueryParameters.bad("from", "the range is too long")) }
        if let step {
            guard let width = step.micros else { return .success(.raw(limit: maxPoints)) }
            let (first, buckets) = bucketRange(from: from, to: to, width: width)
            guard buckets <= Int64(maxPoints) else {
                return .failure(ReadFailure(400, "too_many_points",
                                            "\(buckets) buckets of \(step.rawValue) are over series.max_points (\(maxPoints)); use a coarser step or a shorter range"))
            }
            return .success(.rollup(step, fromBucket: first, buckets: buckets))
        }
        if span.partialValue <= Int64(maxPoints) * 1_000_000 { return .success(.raw(limit: maxPoints)) }
        for candidate in [SeriesStep.oneMinute, .oneHour, .oneDay] {
            let (first, buckets) = bucketRange(from: from, to: to, width: candidate.micros!)
            if buckets <= Int64(maxPoints) { return .success(.rollup(candidate, fromBucket: first, buckets: buckets)) }
        }
        return .failure(ReadFailure(400, "too_many_points", "the range holds more than series.max_points (\(maxPoints)) days; shorten it"))
    }

    /// The first bucket start at or before `from` and how many buckets reach `to`.
    static func bucketRange(from: Int64, to: Int64, width: Int64) -> (Int64, Int64) {
        let remainder = ((from % width) + width) % width
        let first = from - remainder
        let span = Double(to) - Double(first)
        return (first, Int64((span / Double(width)).rounded(.up)))
    }
}
