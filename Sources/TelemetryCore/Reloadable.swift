import Synchronization

/// A value replaced by a configuration reload (SIGHUP). Hot paths compare ``generation`` (one
/// atomic load) and take the ``value`` only when it changed.
public final class Reloadable<Value: Sendable>: Sendable {
    private let current: Mutex<Value>
    private let counter = Atomic<Int>(0)

    public init(_ value: Value) {
        current = Mutex(value)
    }

    /// Grows by one with every ``update(_:)``.
    public var generation: Int { counter.load(ordering: .acquiring) }

    public var value: Value { current.withLock { $0 } }

    public func update(_ value: Value) {
        current.withLock { $0 = value }
        counter.add(1, ordering: .releasing)
    }
}
