import TelemetryCore
import Synchronization

/// One unit of work for a worker: a stream entry from the hub or a compatibility task.
package struct WorkItem: Sendable {
    /// Where the item came from, which is also how it is acknowledged.
    package enum Source: Sendable {
        /// An entry of `telemetry:stream:<shard>`; acknowledged with `XACK`.
        case stream(shard: Int, entryID: String)
        /// A task in this consumer's processing list; acknowledged with `LREM`.
        case compat(raw: [UInt8])
    }

    package enum Payload: Sendable {
        /// A hub batch still encoded (decoding happens on the worker, in parallel).
        case hubBatch(version: String?, bytes: [UInt8])
        case task(TelemetryTask)
        /// Could not be decoded at all; goes to the dead letters.
        case undecodable(TelemetryError, raw: [UInt8], sourceID: String?)
    }

    package var source: Source
    package var payload: Payload

    package init(source: Source, payload: Payload) {
        self.source = source
        self.payload = payload
    }

    /// The item's field in the retry ledger: its stream entry, or its task id.
    package func retryKey(batchID: String) -> String {
        switch source {
        case .stream(let shard, let entryID): "stream:\(shard):\(entryID)"
        case .compat: "task:\(batchID)"
        }
    }

    /// `stream:<n>` or `compat`, the dead letter's `source`.
    package var sourceName: String {
        switch source {
        case .stream(let shard, _): "stream:\(shard)"
        case .compat: "compat"
        }
    }

    /// The metrics' `type` label: the task type, `hub_batch` for stream entries, `unknown` for a
    /// task that could not be decoded.
    package var typeName: String {
        switch (source, payload) {
        case (.stream, _): "hub_batch"
        case (_, .task(let task)): task.kind.rawValue
        case (.compat, _): "unknown"
        }
    }
}
