import Synchronization
import Redis

/// What `stream_positions` held when each storage connection was opened, before anything was
/// written on it, for the consumer to compare with the consumer group's position
/// (``ConsumerActor/rewindIfBehind()``).
///
/// A new connection may reach another server than the last one (libpq's multi-host
/// `postgres.url` finds the new primary after a failover); a promoted standby may lack the last
/// asynchronous commits, whose entries Redis already counts as acknowledged. The positions read
/// at connection time are from before this process wrote there, so the gap they reveal is not
/// hidden by the commits that follow.
package final class StreamPositionBook: Sendable {
    private struct State {
        /// The positions seen by the connections opened since the last ``take()``, the least per stream.
        var captured: [String: StreamID] = [:]
        /// Whether a connection was opened since the last ``take()``.
        var connected = false
    }

    private let state = Mutex(State())
    /// The stream keys of every shard: a stream of them with no row at all, on a server where
    /// other rows are from an older timeline, was missed from its first commit
    /// (``StorageActor/streamPositions()`` reports it at the stream's start).
    package let streams: [String]

    package init(streams: [String] = []) {
        self.streams = streams
    }

    /// Records what a new connection read (before any write on it).
    package func connected(positions: [String: StreamID]) {
        state.withLock { state in
            state.connected = true
            for (stream, id) in positions where state.captured[stream].map({ id < $0 }) ?? true {
                state.captured[stream] = id
            }
        }
    }

    /// The least position per stream seen since the last call; nil when no connection was opened since.
    package func take() -> [String: StreamID]? {
        state.withLock { state in
            guard state.connected else { return nil }
            defer { state = State() }
            return state.captured
        }
    }
}
