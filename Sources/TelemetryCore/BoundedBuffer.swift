import DequeModule
import Synchronization

/// What a ``BoundedBuffer`` does when a producer finds it full.
public enum BufferFullPolicy: String, Sendable, CaseIterable {
    /// The producer waits for room: backpressure travels upstream, nothing is dropped.
    case block
    /// The oldest element is dropped (and counted) to make room; never a protected one (see
    /// ``BoundedBuffer/init(capacity:policy:isProtected:)``).
    case dropOldest = "drop_oldest"
}

/// A bounded multi-producer single-consumer async buffer with an explicit full policy.
///
/// The consumer takes elements in groups (`next(max:)`), which lets it pipeline them.
///
/// ```swift
/// let buffer = BoundedBuffer<Batch>(capacity: 64, policy: .block)
/// await buffer.push(batch)                 // producer: waits while full
/// while let group = await buffer.next(max: 16) { … }   // consumer: nil once finished and empty
/// ```
public final class BoundedBuffer<Element: Sendable>: Sendable {
    /// What happened to a pushed element.
    public enum PushResult: Sendable {
        /// Enqueued; nothing was dropped.
        case enqueued
        /// Enqueued after dropping the associated element, the oldest unprotected one (policy
        /// `drop_oldest`).
        case enqueuedDropping(Element)
        /// Not enqueued but dropped itself (policy `drop_oldest`, and every buffered element is
        /// protected).
        case dropped
        /// The buffer was finished, or the waiting producer's task was cancelled; the element
        /// was not taken.
        case finished
    }

    private enum PushStep { case done(PushResult, CheckedContinuation<Void, Never>?), wait }
    private enum NextStep { case take([Element], [CheckedContinuation<Void, Never>]), end, wait }

    struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Void, Never>
    }

    struct State {
        var elements: Deque<Element> = []
        var consumer: Waiter?
        var producers: Deque<Waiter> = []
        var finished = false
        var dropped = 0
        var nextWaiterID: UInt64 = 0
    }

    /// The most elements buffered at once (at least 1).
    public let capacity: Int
    /// What ``push(_:)`` does when the buffer is full.
    public let policy: BufferFullPolicy
    private let isProtected: @Sendable (Element) -> Bool
    private let state = Mutex(State())

    /// `isProtected` marks elements `drop_oldest` must never drop (data already promised to a
    /// client); a protected element finding the buffer full of protected ones waits as under `block`.
    public init(capacity: Int, policy: BufferFullPolicy, isProtected: @escaping @Sendable (Element) -> Bool = { _ in false }) {
        precondition(capacity > 0, "capacity must be positive")
        self.capacity = capacity
        self.policy = policy
        self.isProtected = isProtected
    }

    /// Elements buffered now.
    public var count: Int { state.withLock { $0.elements.count } }
    /// Elements dropped by the `drop_oldest` policy so far.
    public var droppedCount: Int { state.withLock { $0.dropped } }

    /// Adds `element`, waiting for room under `block`, dropping the oldest under `drop_oldest`.
    /// A cancelled task stops waiting and gets `.finished` (the element is not taken).
    @discardableResult
    public func push(_ element: Element) async -> PushResult {
        while true {
            let step: PushStep = state.withLock { state in
                if state.finished { return .done(.finished, nil) }
                if state.elements.count < capacity {
                    state.elements.append(element)
                    let consumer = state.consumer?.continuation
                    state.consumer = nil
                    return .done(.enqueued, consumer)
                }
                switch policy {
                case .dropOldest:
                    if let oldest = state.elements.firstIndex(where: { !isProtected($0) }) {
                        let old = state.elements.remove(at: oldest)
                        state.elements.append(element)
                        state.dropped += 1
                        let consumer = state.consumer?.continuation
                        state.consumer = nil
                        return .done(.enqueuedDropping(old), consumer)
                    }
                    if isProtected(element) { return .wait }
                    state.dropped += 1
                    return .done(.dropped, nil)
                case .block:
                    return .wait
                }
            }
            switch step {
            case .done(let result, let consumer):
                consumer?.resume()
                return result
            case .wait:
                if Task.isCancelled { return .finished }
                await suspend { state, waiter in
                    if state.finished || state.elements.count < capacity { return false }
                    state.producers.append(waiter)
                    return true
                } cancel: { state, id in
                    state.producers.firstIndex { $0.id == id }.map { state.producers.remove(at: $0) }
                }
            }
        }
    }

    /// Adds all of `elements` if they fit now, none otherwise; never waits and never drops.
    /// False when there is no room (or the buffer is finished): the caller's backpressure signal.
    public func tryPush(contentsOf elements: [Element]) -> Bool {
        let (pushed, consumer): (Bool, CheckedContinuation<Void, Never>?) = state.withLock { state in
            guard !state.finished, state.producers.isEmpty, state.elements.count + elements.count <= capacity else { return (false, nil) }
            guard !elements.isEmpty else { return (true, nil) }
            state.elements.append(contentsOf: elements)
            defer { state.consumer = nil }
            return (true, state.consumer?.continuation)
        }
        consumer?.resume()
        return pushed
    }

    /// Takes up to `max` elements, waiting while empty; nil once finished and drained, or when the
    /// waiting task is cancelled.
    public func next(max: Int) async -> [Element]? {
        while true {
            let step: NextStep = state.withLock { state in
                if !state.elements.isEmpty {
                    let n = Swift.min(max, state.elements.count)
                    let taken = Array(state.elements.prefix(n))
                    state.elements.removeFirst(n)
                    let woken = state.producers.prefix(n).map(\.continuation)
                    state.producers.removeFirst(woken.count)
                    return .take(taken, woken)
                }
                return state.finished ? .end : .wait
            }
            switch step {
            case .take(let elements, let producers):
                for producer in producers { producer.resume() }
                return elements
            case .end:
                return nil
            case .wait:
                if Task.isCancelled { return nil }
                await suspend { state, waiter in
                    if state.finished || !state.elements.isEmpty { return false }
                    state.consumer = waiter
                    return true
                } cancel: { state, id in
                    guard state.consumer?.id == id else { return nil }
                    defer { state.consumer = nil }
                    return state.consumer
                }
            }
        }
    }

    /// Waits until the other side resumes the waiter `register` parks (it returns false when there
    /// is no need to wait), or until the task is cancelled: then `cancel` unparks the waiter.
    private func suspend(register: (inout State, Waiter) -> Bool,
                         cancel: @escaping @Sendable (inout State, UInt64) -> Waiter?) async {
        let id = state.withLock { state in
            state.nextWaiterID &+= 1
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let parked = state.withLock { state in
                    // Checked under the lock: a cancellation after this finds the waiter parked.
                    !Task.isCancelled && register(&state, Waiter(id: id, continuation: continuation))
                }
                if !parked { continuation.resume() }
            }
        } onCancel: {
            state.withLock { cancel(&$0, id) }?.continuation.resume()
        }
    }

    /// Takes up to `max` elements without waiting; nil when none is buffered.
    public func tryNext(max: Int) -> [Element]? {
        let (taken, producers): ([Element], [CheckedContinuation<Void, Never>]) = state.withLock { state in
            let n = Swift.min(max, state.elements.count)
            guard n > 0 else { return ([], []) }
            let taken = Array(state.elements.prefix(n))
            state.elements.removeFirst(n)
            let woken = state.producers.prefix(n).map(\.continuation)
            state.producers.removeFirst(woken.count)
            return (taken, woken)
        }
        for producer in producers { producer.resume() }
        return taken.isEmpty ? nil : taken
    }

    /// True once ``finish()`` was called.
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// True once ``finish()`` was called and every element was taken.
    public var isFinishedAndEmpty: Bool { state.withLock { $0.finished && $0.elements.isEmpty } }

    /// Ends the buffer: producers are turned away, the consumer drains what is left then gets nil.
    public func finish() {
        let (consumer, producers) = state.withLock { state in
            state.finished = true
            let c = state.consumer?.continuation
            state.consumer = nil
            let p = state.producers.map(\.continuation)
            state.producers.removeAll()
            return (c, p)
        }
        consumer?.resume()
        for producer in producers { producer.resume() }
    }
}
