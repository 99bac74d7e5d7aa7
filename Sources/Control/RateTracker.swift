import Foundation
import Synchronization

/// Per-second rates of monotonically growing counters over a sliding window (default 10 s),
/// for `telemetryctl status` and the `STATUS=` line.
public final class RateTracker: Sendable {
    private struct Point: Sendable {
        var at: Double
        var values: [String: Int]
    }

    private let window: Double
    private let points = Mutex<[Point]>([])

    /// A tracker whose rates span about the last `windowSeconds` seconds of observations.
    public init(windowSeconds: Double = 10) {
        window = windowSeconds
    }

    /// Records the counters' current values.
    public func observe(_ values: [String: Int], at now: Double = ProcessInfo.processInfo.systemUptime) {
        points.withLock { points in
            points.append(Point(at: now, values: values))
            while points.count > 2, now - points[1].at >= window { points.removeFirst() }
        }
    }

    /// Rate per second of each counter between the oldest and newest observation in the window;
    /// empty until two observations exist.
    public var rates: [String: Double] {
        points.withLock { points in
            guard let first = points.first, let last = points.last, last.at > first.at else { return [:] }
            var rates: [String: Double] = [:]
            for (name, value) in last.values {
                rates[name] = Double(value - (first.values[name] ?? 0)) / (last.at - first.at)
            }
            return rates
        }
    }

    /// `12.3`-style formatting for status lines.
    public static func format(_ rate: Double?) -> String {
        String(format: "%.1f", rate ?? 0)
    }
}
