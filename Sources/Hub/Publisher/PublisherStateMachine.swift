import TelemetryCore

/// The publisher's decisions as a pure state machine (no I/O, no clock of its own): which step
/// ``PublisherActor`` takes next, from the breaker, the spool and the buffer. Tested without
/// Redis or a disk in `PublisherStateMachineTests`.
///
/// - **Direct** (breaker closed, nothing spooled or waiting): wait for batches and send them.
///   A failed send opens the breaker and keeps the batches as *pending*.
/// - **Degraded** (anything else), in rounds: spool the pending batches; take what the buffer
///   holds without waiting and spool it too; when the breaker allows a probe, replay the oldest
///   spooled batches (a success closes the breaker); finish once the buffer is finished and
///   empty, nothing is pending, and the spool is empty or Redis still away (what is left is
///   replayed at the next start); sleep a little after a round without progress.
/// - A full spool holds the pending batches (the buffer fills and the devices wait), or under
///   `drop_oldest` drops its oldest record, never one whose samples were acknowledged to a client.
package struct PublisherStateMachine: Sendable {
    package enum Action: Sendable, Equatable {
        /// Wait for batches from the buffer and send them; report with ``published(ok:batches:nowMillis:)``.
        case publishFromBuffer
        /// Write the pending batches to the spool; report with ``spooledPending()`` when they went in.
        case spoolPending
        /// Take what the buffer holds without waiting; report with ``took(_:)``.
        case takeFromBuffer
        /// Send the oldest spooled batches; report with ``replayed(_:nowMillis:)``.
        case replay
        /// Stop; `spooledLeft` records stay on disk for the next start.
        case finish(spooledLeft: Int)
        /// Nothing moved this round: wait this long before the next.
        case sleep(Duration)
    }

    /// How a replay went.
    package enum ReplayOutcome: Sendable, Equatable {
        /// Redis took them (or they were unreadable and skipped): `records` left the spool.
        case sent(records: Int)
        /// Redis failed the send; the records stay spooled.
        case sendFailed
        /// The spool could not be read; nothing changed.
        case readFailed
    }

    private enum Phase: Sendable {
        case roundStart, afterFirstSpool, afterTake, beforeReplay, afterReplay, finished
    }

    package private(set) var breaker: CircuitBreaker
    /// Records in the spool.
    package private(set) var spooled: Int
    /// Batches taken from the buffer that the spool has had no room for yet.
    package private(set) var pending = 0
    package let spoolFullPolicy: BufferFullPolicy
    private var phase = Phase.roundStart
    private var progressed = false
    private var tookThisRound = 0

    package init(breaker: CircuitBreaker, spooled: Int, spoolFullPolicy: BufferFullPolicy) {
        self.breaker = breaker
        self.spooled = max(0, spooled)
        self.spoolFullPolicy = spoolFullPolicy
    }

    /// Whether batches go straight to Redis (no outage, nothing spooled or pending).
    package var isDirect: Bool { spooled == 0 && pending == 0 && breaker.state == .closed }

    /// The next step at `nowMillis`; `bufferFinishedAndEmpty` says whether the buffer is closed with
    /// nothing left in it.
    package mutating func next(nowMillis: Int64, bufferFinishedAndEmpty: Bool) -> Action {
        while true {
            switch phase {
            case .finished:
                return .finish(spooledLeft: spooled)
            case .roundStart:
                if isDirect { return .publishFromBuffer }
                progressed = false
                phase = .afterFirstSpool
                if pending > 0 { return .spoolPending }
            case .afterFirstSpool:
                if pending == 0 {
                    phase = .afterTake
                    return .takeFromBuffer
                }
                phase = .beforeReplay
            case .afterTake:
                phase = .beforeReplay
                if tookThisRound > 0 { return .spoolPending }
            case .beforeReplay:
                phase = .afterReplay
                // The probe is claimed (open → half-open) even with an empty spool, as a round of
                // the degraded mode that finds nothing to replay still tests whether Redis is back.
                if breaker.allowsAttempt(nowMillis: nowMillis) && spooled > 0 { return .replay }
            case .afterReplay:
                if bufferFinishedAndEmpty && pending == 0 && (spooled == 0 || breaker.state != .closed) {
                    phase = .finished
                    return .finish(spooledLeft: spooled)
                }
                // Everything spooled went out and nothing waits: back to direct publishing.
                if spooled == 0 && pending == 0 && breaker.state == .halfOpen { breaker.recordSuccess() }
                phase = .roundStart
                if !progressed { return .sleep(.milliseconds(5)) }
            }
        }
    }

    /// The direct send of `batches` batches went through, or failed (they become pending).
    package mutating func published(ok: Bool, batches: Int, nowMillis: Int64) {
        if ok {
            breaker.recordSuccess()
        } else {
            breaker.recordFailure(nowMillis: nowMillis)
            pending = batches
        }
    }

    /// The pending batches are in the spool.
    package mutating func spooledPending() {
        spooled += pending
        pending = 0
        progressed = true
    }

    /// `count` batches were taken from the buffer (0: it had none); they are pending now.
    package mutating func took(_ count: Int) {
        tookThisRound = count
        if count > 0 { pending = count }
    }

    /// Whether a full spool may make room by dropping its oldest record (`drop_oldest` and
    /// something to drop); the publisher then looks at that record and asks ``dropsOldest(acknowledged:)``.
    package var mayDropOldest: Bool { spoolFullPolicy == .dropOldest && spooled > 0 }

    /// Whether to drop the oldest spooled record to make room: never one acknowledged to a client
    /// (the spool stays full, the buffer fills and clients get 429 until Redis is back).
    package func dropsOldest(acknowledged: Bool) -> Bool { mayDropOldest && !acknowledged }

    /// The oldest spooled record was dropped.
    package mutating func droppedOldest() { spooled = max(0, spooled - 1) }

    /// Redis took the replayed batches (or there were none readable to send): the breaker closes,
    /// whether or not the spool then manages to drop them.
    package mutating func replaySent() { breaker.recordSuccess() }

    /// `records` replayed records left the spool.
    package mutating func replayConsumed(_ records: Int) {
        spooled = max(0, spooled - records)
        progressed = true
    }

    /// The spool's own count of records, after an operation on it failed half-way (a consume that
    /// dropped records from memory but could not persist its head): the machine counts what the
    /// spool holds, so an empty spool is seen as empty.
    package mutating func resync(spooled count: Int) { spooled = max(0, count) }

    /// A replay ended: ``replaySent()`` then ``replayConsumed(_:)`` for `.sent`.
    package mutating func replayed(_ outcome: ReplayOutcome, nowMillis: Int64) {
        switch outcome {
        case .sent(let records):
            replaySent()
            replayConsumed(records)
        case .sendFailed:
            breaker.recordFailure(nowMillis: nowMillis)
        case .readFailed:
            break
        }
    }
}
