public import TelemetryCore

/// The spool as an actor on a thread of its own (its file writes and fsyncs block).
public actor Spool {
    private nonisolated let executor = ThreadExecutor(name: "spool")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    private let store: SpoolStore

    /// Opens the spool and recovers it (see ``SpoolStore``).
    public init(directory: String, segmentBytes: Int, maxBytes: Int, fsync: Bool) throws(SpoolError) {
        store = try SpoolStore(directory: directory, segmentBytes: segmentBytes, maxBytes: maxBytes, fsync: fsync)
    }

    public var recovery: SpoolStore.Recovery { store.recovery }
    public var count: Int { store.count }
    public var bytes: Int { store.bytes }
    public var isEmpty: Bool { store.isEmpty }

    /// Appends the batches if they fit; false (nothing written) when the spool is full.
    public func append(_ batches: [HubBatch]) throws(SpoolError) -> Bool {
        let payloads = batches.map { HubBatchCodec.encode($0) }
        guard store.hasRoom(for: payloads) else { return false }
        try store.append(payloads)
        return true
    }

    /// The oldest `max` batches; an undecodable record (impossible once its checksum passed) is
    /// returned as nil so the caller can drop it.
    public func peek(max: Int) throws(SpoolError) -> [HubBatch?] {
        try store.peek(max: max).map { try? HubBatchCodec.decode($0) }
    }

    public func consume(_ count: Int) throws(SpoolError) {
        try store.consume(count)
    }
}
