import Synchronization

/// A value replaced by a configuration reload (SIGHUP). Hot paths compare ``generation`` (one
/// atomic load) and take the ``value`` only when it changed.
public final class Reloadable<Value: Sendable>: Sendable {
    private let current: Mutex<Value>
    private let counter = Atomic<Int>(0)

    /// Holds `value` at generation 0.
    public init(_ value: Value) {
        current = Mutex(value)
    }

    /// Grows by one with every ``update(_:)``.
    public var generation: Int { counter.load(ordering: .acquiring) }

    /// The current value (read under a lock).
    public var value: Value { current.withLock { $0 } }

    /// Replaces the value, then grows ``generation`` by one; safe from any thread.
    public func update(_ value: Value) {
        current.withLock { $0 = value }
        counter.add(1, ordering: .releasing)
    }
}
