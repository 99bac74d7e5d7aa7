import Synchronization
public import TelemetryCore

/// The hub's tables of device and metric names; samples in the rings carry indexes into them.
///
/// Registration happens when a bus starts (rarely); the ingest side reads a snapshot and only
/// refreshes it when it meets an index it has not seen, so the per-sample path takes no lock.
public final class DeviceCatalog: Sendable {
    /// An immutable view of the tables.
    package struct Snapshot: Sendable {
        package let devices: [String]
        package let metrics: [String]
        /// Shard of each device, by device index.
        package let shards: [Int]
    }

    private struct State {
        var devices: [String] = []
        var deviceIndex: [String: UInt32] = [:]
        var metrics: [String] = []
        var metricIndex: [String: UInt16] = [:]
        var shards: [Int] = []
    }

    private let state = Mutex(State())
    package let router: ShardRouter
    /// Most distinct names the tables take from input the hub does not control (device lines,
    /// HTTP): beyond them a reading is rejected, so a flood of made-up names cannot exhaust memory
    /// or the 16-bit metric index.
    package static let maxDevices = 1_000_000
    package static let maxMetrics = 4096

    /// An empty catalog whose devices go to the shards `router` picks.
    public init(router: ShardRouter) {
        self.router = router
        for metric in StandardMetric.allCases { _ = self.metric(metric.rawValue) }
    }

    /// The index of `name`, registering it on first use (for configured names: the table must
    /// have room).
    public func device(_ name: String) -> UInt32 {
        guard let index = deviceIfRoom(name) else { preconditionFailure("more than \(Self.maxDevices) configured devices") }
        return index
    }

    /// The index of metric `name`, registering it on first use (configured names).
    public func metric(_ name: String) -> UInt16 {
        guard let index = metricIfRoom(name) else { preconditionFailure("more than \(Self.maxMetrics) configured metrics") }
        return index
    }

    /// The index of device `name`, registering it if the table has room; nil when full.
    package func deviceIfRoom(_ name: String) -> UInt32? {
        state.withLock { state in
            if let index = state.deviceIndex[name] { return index }
            guard state.devices.count < Self.maxDevices else { return nil }
            let index = UInt32(state.devices.count)
            state.devices.append(name)
            state.deviceIndex[name] = index
            state.shards.append(router.shard(of: name))
            return index
        }
    }

    /// The index of metric `name`, registering it if the table has room; nil when full.
    package func metricIfRoom(_ name: String) -> UInt16? {
        state.withLock { state in
            if let index = state.metricIndex[name] { return index }
            guard state.metrics.count < Self.maxMetrics else { return nil }
            let index = UInt16(state.metrics.count)
            state.metrics.append(name)
            state.metricIndex[name] = index
            return index
        }
    }

    package func snapshot() -> Snapshot {
        state.withLock { Snapshot(devices: $0.devices, metrics: $0.metrics, shards: $0.shards) }
    }
}
