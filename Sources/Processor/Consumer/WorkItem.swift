public import TelemetryCore
import Synchronization

/// One unit of work for a worker: a stream entry from the hub or a compatibility task.
public struct WorkItem: Sendable {
    /// Where the item came from, which is also how it is acknowledged.
    public enum Source: Sendable {
        /// An entry of `telemetry:stream:<shard>`; acknowledged with `XACK`.
        case stream(shard: Int, entryID: String)
        /// A task in this consumer's processing list; acknowledged with `LREM`.
        case compat(raw: [UInt8])
    }

    public enum Payload: Sendable {
        /// A hub batch still encoded (decoding happens on the worker, in parallel).
        case hubBatch(version: String?, bytes: [UInt8])
        case task(TelemetryTask)
        /// Could not be decoded at all; goes to the dead letters.
        case undecodable(TelemetryError, raw: [UInt8], sourceID: String?)
    }

    public var source: Source
    public var payload: Payload

    public init(source: Source, payload: Payload) {
        self.source = source
        self.payload = payload
    }

    /// The item's field in the retry ledger: its stream entry, or its task id.
    public func retryKey(batchID: String) -> String {
        switch source {
        case .stream(let shard, let entryID): "stream:\(shard):\(entryID)"
        case .compat: "task:\(batchID)"
        }
    }

    /// `stream:<n>` or `compat`, the dead letter's `source`.
    public var sourceName: String {
        switch source {
        case .stream(let shard, _): "stream:\(shard)"
        case .compat: "compat"
        }
    }

    /// The metrics' `type` label: the task type, `hub_batch` for stream entries, `unknown` for a
    /// task that could not be decoded.
    public var typeName: String {
        switch (source, payload) {
        case (.stream, _): "hub_batch"
        case (_, .task(let task)): task.kind.rawValue
        case (.compat, _): "unknown"
        }
    }
}
