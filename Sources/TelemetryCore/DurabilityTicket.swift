import Synchronization

/// One HTTP request's promise: its batches are counted down as each becomes durable, and
/// ``wait()`` returns once all are, or once the first failure (or ``expire(_:)``) decides.
///
/// ```swift
/// let ticket = DurabilityTicket(batches: 3)
/// ticket.batchDurable()   // the publisher, after XADD returned an id or the spool fsync'd
/// switch await ticket.wait() { case .durable: … case .failed(let reason): … }
/// ```
public final class DurabilityTicket: Sendable, Equatable {
    /// How the promise ends.
    public enum Outcome: Sendable, Equatable {
        /// Every batch of the request is durable.
        case durable
        /// The request cannot be confirmed, for the given reason.
        case failed(String)
    }

    private struct State {
        var remaining: Int
        var outcome: Outcome?
        var waiter: CheckedContinuation<Outcome, Never>?
    }

    private let state: Mutex<State>

    /// A ticket for `batches` batches; with 0 it is durable at once.
    public init(batches: Int) {
        state = Mutex(State(remaining: batches, outcome: batches == 0 ? .durable : nil))
    }

    /// One batch is durable.
    public func batchDurable() {
        decide { state in
            state.remaining -= 1
            return state.remaining <= 0 ? .durable : nil
        }
    }

    /// The request cannot be confirmed (the hub is stopping, the spool cannot be written, …).
    /// The first outcome stands.
    public func expire(_ reason: String) { decide { _ in .failed(reason) } }

    /// The outcome so far (nil while undecided).
    public var outcome: Outcome? { state.withLock { $0.outcome } }

    /// Waits for the outcome. One waiter at a time.
    public func wait() async -> Outcome {
        await withCheckedContinuation { continuation in
            let decided: Outcome? = state.withLock { state in
                if let outcome = state.outcome { return outcome }
                state.waiter = continuation
                return nil
            }
            if let decided { continuation.resume(returning: decided) }
        }
    }

    private func decide(_ step: (inout State) -> Outcome?) {
        let (waiter, outcome): (CheckedContinuation<Outcome, Never>?, Outcome?) = state.withLock { state in
            guard state.outcome == nil, let outcome = step(&state) else { return (nil, nil) }
            state.outcome = outcome
            defer { state.waiter = nil }
            return (state.waiter, outcome)
        }
        if let waiter, let outcome { waiter.resume(returning: outcome) }
    }

    /// Identity: a ticket equals only itself.
    public static func == (lhs: DurabilityTicket, rhs: DurabilityTicket) -> Bool { lhs === rhs }
}
