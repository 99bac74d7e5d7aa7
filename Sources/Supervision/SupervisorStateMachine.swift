import TelemetryCore

/// How a supervisor restarts its children: exponential backoff per child, and an intensity limit
/// over all of them (more than `maxRestarts` restarts within `periodMillis` escalates).
public struct RestartPolicy: Sendable, Equatable {
    /// The wait before a child's first restart, in milliseconds; it doubles with each consecutive failure.
    public var initialBackoffMillis: Int64
    /// The longest wait before a restart, in milliseconds (never below ``initialBackoffMillis``).
    public var maxBackoffMillis: Int64
    /// Restarts allowed over all children within ``periodMillis``; the next failure escalates.
    public var maxRestarts: Int
    /// The intensity window, in milliseconds; a child that ran this long before failing starts again
    /// from the initial backoff.
    public var periodMillis: Int64

    /// A policy; the defaults are those of `supervisor.*` (100 ms doubling to 10 s, 5 restarts a minute).
    /// A `maxBackoffMillis` below `initialBackoffMillis` is raised to it.
    public init(initialBackoffMillis: Int64 = 100, maxBackoffMillis: Int64 = 10_000, maxRestarts: Int = 5, periodMillis: Int64 = 60_000) {
        self.initialBackoffMillis = initialBackoffMillis
        self.maxBackoffMillis = max(initialBackoffMillis, maxBackoffMillis)
        self.maxRestarts = maxRestarts
        self.periodMillis = periodMillis
    }
}

/// Whether a child that returns normally is restarted: `permanent` children are meant to run
/// until shutdown, `transient` ones (a bus with a readings limit) may finish on their own. Both
/// are restarted when they throw.
public enum ChildRestart: Sendable {
    /// Meant to run until shutdown: a return before it is a failure.
    case permanent
    /// May finish on its own: a return is final.
    case transient
}

/// How a child's run ended.
public enum ChildExit: Sendable, Equatable {
    /// Its body returned.
    case returned
    /// Its body threw; the error's description.
    case threw(String)
    /// Its task was cancelled (whatever the body then did), or the body threw `CancellationError`.
    case cancelled
}

/// What the supervisor does about a child that ended.
public enum SupervisorDecision: Sendable, Equatable {
    /// Run it again after the backoff.
    case restart(afterMillis: Int64)
    /// It is done for good (normal completion, shutdown, cancellation).
    case finished
    /// The intensity limit is exceeded: stop the service with a non-zero status.
    case escalate(reason: String)
}

/// A child's state as `telemetryctl status` shows it.
public enum ChildState: String, Sendable {
    /// `starting` until first run, `running`, `backing_off` before a restart, `stopped` once finished,
    /// `failed` when its failure escalated.
    case starting, running, backingOff = "backing_off", stopped, failed
}

/// One child as seen from outside.
public struct ChildStatus: Sendable, Equatable {
    /// The child's name.
    public var name: String
    /// What it is doing now.
    public var state: ChildState
    /// Times it was restarted after a failure.
    public var restarts: Int
    /// Its last failure (the error, or `stopped unexpectedly`); nil until it fails, kept after.
    public var lastError: String?
    /// Wall-clock milliseconds of the last failure.
    public var lastErrorAtMillis: Int64?
}

/// The supervisor's decisions, as a pure state machine over injected times (milliseconds from
/// any monotonic origin): which child to restart, after how long, and when to give up.
///
/// * A child that throws, or a `permanent` child that returns before shutdown, is restarted after
///   `initial × 2^(n-1)` (capped), where `n` counts its consecutive failures; a child that ran for
///   at least the intensity period before failing starts again from the initial backoff.
/// * More than `maxRestarts` restarts (over all children) within `periodMillis` escalates.
/// * During shutdown a child that returns or is cancelled is finished; one that throws is still
///   restarted, so a worker can drain its queue.
public struct SupervisorStateMachine: Sendable {
    struct Record: Sendable {
        var status: ChildStatus
        var restart: ChildRestart
        var startedAtMillis: Int64 = 0
        var consecutiveFailures = 0
    }

    /// The backoff and intensity limits applied.
    public let policy: RestartPolicy
    private var records: [Record] = []
    private var recentRestarts: [Int64] = []
    /// True after ``beginShutdown()``: a child that returns is then finished, not restarted.
    public private(set) var shuttingDown = false

    /// A machine with no children, applying `policy`.
    public init(policy: RestartPolicy) {
        self.policy = policy
    }

    /// Adds a child in state `starting`; adding a name twice is a programming error (it traps).
    public mutating func add(_ name: String, restart: ChildRestart) {
        precondition(index(of: name) == nil, "child \(name) added twice")
        records.append(Record(status: ChildStatus(name: name, state: .starting, restarts: 0), restart: restart))
    }

    /// Marks `name` running since `nowMillis`, the start its next failure is measured from; an
    /// unknown name is ignored.
    public mutating func started(_ name: String, nowMillis: Int64) {
        guard let i = index(of: name) else { return }
        records[i].status.state = .running
        records[i].startedAtMillis = nowMillis
    }

    /// Records that graceful shutdown began: from now on a child that returns is finished.
    public mutating func beginShutdown() {
        shuttingDown = true
    }

    /// Decides what happens to `name` after it ended with `exit`. `wallMillis` only stamps the
    /// error for display.
    public mutating func exited(_ name: String, exit: ChildExit, nowMillis: Int64, wallMillis: Int64 = 0) -> SupervisorDecision {
        guard let i = index(of: name) else { return .finished }
        let error: String
        switch exit {
        case .cancelled:
            records[i].status.state = .stopped
            return .finished
        case .returned where shuttingDown || records[i].restart == .transient:
            records[i].status.state = .stopped
            return .finished
        case .returned:
            error = "stopped unexpectedly"
        case .threw(let message):
            error = message
        }
        records[i].status.lastError = error
        records[i].status.lastErrorAtMillis = wallMillis
        if nowMillis - records[i].startedAtMillis >= policy.periodMillis {
            records[i].consecutiveFailures = 0
        }
        records[i].consecutiveFailures += 1
        recentRestarts.removeAll { nowMillis - $0 >= policy.periodMillis }
        if recentRestarts.count >= policy.maxRestarts {
            records[i].status.state = .failed
            return .escalate(reason: "more than \(policy.maxRestarts) restarts within \(policy.periodMillis / 1000) s; last: \(name): \(error)")
        }
        recentRestarts.append(nowMillis)
        records[i].status.restarts += 1
        records[i].status.state = .backingOff
        let backoff = Backoff(initialMillis: policy.initialBackoffMillis, maximumMillis: policy.maxBackoffMillis)
        return .restart(afterMillis: backoff.capMillis(afterFailures: records[i].consecutiveFailures))
    }

    /// Every child, in the order added.
    public var children: [ChildStatus] { records.map(\.status) }

    private func index(of name: String) -> Int? {
        records.firstIndex { $0.status.name == name }
    }
}
