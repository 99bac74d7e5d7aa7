import TelemetryCore

/// The spool as an actor on a thread of its own: its file reads, writes and fsyncs block, so
/// they never run on the cooperative pool — recovery included, which is why ``open()`` is a
/// method of the actor and not part of its initializer.
package actor Spool {
    private nonisolated let executor = ThreadExecutor(name: "spool")
    package nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    private let directory: String
    private let segmentBytes: Int
    private let maxBytes: Int
    private let fsync: Bool
    private var store: SpoolStore?

    package init(directory: String, segmentBytes: Int, maxBytes: Int, fsync: Bool) {
        self.directory = directory
        self.segmentBytes = segmentBytes
        self.maxBytes = maxBytes
        self.fsync = fsync
    }

    /// Opens and recovers the spool (see ``SpoolStore``); returns what recovery found.
    @discardableResult
    package func open() throws(SpoolError) -> SpoolStore.Recovery {
        let opened = try SpoolStore(directory: directory, segmentBytes: segmentBytes, maxBytes: maxBytes, fsync: fsync)
        store = opened
        return opened.recovery
    }

    private func opened() throws(SpoolError) -> SpoolStore {
        guard let store else { throw SpoolError("the spool is not open") }
        return store
    }

    package var count: Int { store?.count ?? 0 }
    package var bytes: Int { store?.bytes ?? 0 }
    package var isEmpty: Bool { store?.isEmpty ?? true }

    /// Appends the batches if they fit; false (nothing written) when the spool is full. Batches
    /// acknowledged to a client are fsync'd whatever `spool.fsync` says.
    package func append(_ batches: [EncodedBatch]) throws(SpoolError) -> Bool {
        let store = try opened()
        let payloads = batches.map(\.bytes)
        guard store.hasRoom(for: payloads) else { return false }
        try store.append(payloads, durable: batches.contains { $0.acknowledged })
        return true
    }

    /// The oldest `max` batches, as stored (only their headers are read); a record whose header
    /// does not parse (impossible once its checksum passed) is returned as nil so the caller can drop it.
    package func peek(max: Int) throws(SpoolError) -> [EncodedBatch?] {
        try opened().peek(max: max).map { try? EncodedBatch(bytes: $0) }
    }

    package func consume(_ count: Int) throws(SpoolError) {
        try opened().consume(count)
    }
}
