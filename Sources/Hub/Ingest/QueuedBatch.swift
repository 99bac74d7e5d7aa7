import TelemetryCore

/// A batch on its way from ``IngestActor`` to ``PublisherActor`` through the bounded buffer,
/// with the durability ticket of the HTTP request it came from (nil for device batches). The
/// ticket is state of this process: it never goes on the wire nor to the spool, and it is
/// completed once the batch is durable (`XADD` returned an id, or its spool record is fsync'd).
public struct QueuedBatch: Sendable {
    /// The batch as it goes on the wire and into the spool.
    public var batch: HubBatch
    package var ticket: DurabilityTicket?

    package init(_ batch: HubBatch, ticket: DurabilityTicket? = nil) {
        self.batch = batch
        self.ticket = ticket
    }
}
