import DequeModule
import Synchronization

/// A counting semaphore for async code with a bounded, timed queue: at most `limit` holders;
/// callers beyond wait in FIFO order, at most `maxWaiters` of them and each at most its timeout.
/// Used for the connections of a node and for the primary-fallback cap.
final class AsyncLimiter: Sendable {
    private struct State {
        var available: Int
        var waiters: Deque<(id: UInt64, continuation: CheckedContinuation<Bool, Never>)> = []
        var nextID: UInt64 = 0
        /// Ids between the fast path and their place in the queue, and those of them whose time
        /// ran out meanwhile.
        var arriving: Set<UInt64> = []
        var abandoned: Set<UInt64> = []
    }

    private let state: Mutex<State>
    private let maxWaiters: Int
    /// How many may hold it at once.
    let limit: Int

    init(limit: Int, maxWaiters: Int = 1024) {
        self.limit = limit
        self.maxWaiters = maxWaiters
        state = Mutex(State(available: limit))
    }

    /// Holders now.
    var inUse: Int { state.withLock { limit - $0.available } }

    /// Takes a slot, waiting up to `timeout`; false when it timed out, the queue was full or the task was cancelled.
    func acquire(timeout: Duration) async -> Bool {
        enum Fast { case taken, full, wait(UInt64) }
        let fast: Fast = state.withLock { state in
            if state.available > 0 {
                state.available -= 1
                return .taken
            }
            guard state.waiters.count < maxWaiters else { return .full }
            state.nextID += 1
            state.arriving.insert(state.nextID)
            return .wait(state.nextID)
        }
        switch fast {
        case .taken: return true
        case .full: return false
        case .wait(let id):
            let timer = Task { [weak self] in
                guard (try? await Task.sleep(for: timeout)) != nil else { return }  // cancelled: served
                self?.abandon(id)
            }
            defer { timer.cancel() }
            return await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let resumeNow: Bool? = state.withLock { state in
                        state.arriving.remove(id)
                        if state.abandoned.remove(id) != nil { return false }
                        // A slot freed between the fast path and here.
                        if state.available > 0 {
                            state.available -= 1
                            return true
                        }
                        if Task.isCancelled { return false }
                        state.waiters.append((id, continuation))
                        return nil
                    }
                    if let resumeNow { continuation.resume(returning: resumeNow) }
                }
            } onCancel: {
                self.abandon(id)
            }
        }
    }

    /// Gives a slot back: to the first waiter, else to the pool.
    func release() {
        let next = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if let first = state.waiters.popFirst() { return first.continuation }
            state.available += 1
            return nil
        }
        next?.resume(returning: true)
    }

    /// Removes waiter `id` (timed out or cancelled) and tells it so, if it is still waiting.
    private func abandon(_ id: UInt64) {
        let removed = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else {
                if state.arriving.remove(id) != nil { state.abandoned.insert(id) }
                return nil
            }
            return state.waiters.remove(at: index).continuation
        }
        removed?.resume(returning: false)
    }
}
