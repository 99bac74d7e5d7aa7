public import Logging
import ServiceLifecycle
import Synchronization
import TelemetryCore

/// The restart intensity was exceeded: the service should exit with a non-zero status so that
/// its own supervisor (systemd, Kubernetes) restarts the whole process.
public struct SupervisorEscalation: Error, CustomStringConvertible {
    /// Which limit was exceeded, and the last failing child with its error.
    public let reason: String
    /// `supervisor gave up: ` and the reason.
    public var description: String { "supervisor gave up: \(reason)" }
}

/// Owns a service's stage tasks as children and applies the ``SupervisorStateMachine``'s
/// decisions: restarts a child that throws or stops unexpectedly after its backoff, and throws
/// ``SupervisorEscalation`` (cancelling the other children) past the intensity limit.
///
/// Children keep what they hold outside the task that runs them (actors, queues, per-worker
/// slots), so a restarted child picks up where the failed one stopped.
///
/// ```swift
/// let supervisor = Supervisor(policy: RestartPolicy(), logger: logger)
/// try await supervisor.run([
///     .init(name: "consumer") { try await consumer.run() },
///     .init(name: "leases", role: .maintenance) { try await leases.run() },
/// ])
/// ```
public final class Supervisor: Sendable {
    /// One child: its name, restart kind and role, and the body run again at each restart.
    public struct Child: Sendable {
        /// `stage` children carry the data; `maintenance` children (lease renewal, partition
        /// upkeep) are cancelled once every stage child has finished.
        public enum Role: Sendable { case stage, maintenance }

        /// The child's name in logs, status and the `child` metrics label; unique within a supervisor.
        public let name: String
        /// Whether a normal return restarts it.
        public let restart: ChildRestart
        /// Whether it carries data (`stage`) or upkeep (`maintenance`).
        public let role: Role
        /// The child's body, called at each start; a throw, or a `permanent` child's return before
        /// shutdown, restarts it after the backoff.
        public let run: @Sendable () async throws -> Void
        /// Called once when the child is finished for good (not between restarts).
        public let onFinished: @Sendable () async -> Void

        /// A child named `name` running `run`; by default a `permanent` stage child with nothing to do when
        /// it is finished.
        public init(name: String, restart: ChildRestart = .permanent, role: Role = .stage,
                    onFinished: @escaping @Sendable () async -> Void = {},
                    run: @escaping @Sendable () async throws -> Void) {
            self.name = name
            self.restart = restart
            self.role = role
            self.run = run
            self.onFinished = onFinished
        }
    }

    private let machine: Mutex<SupervisorStateMachine>
    private let logger: Logger

    /// A supervisor restarting children under `policy`, logging failures and escalation to `logger`.
    public init(policy: RestartPolicy, logger: Logger) {
        machine = Mutex(SupervisorStateMachine(policy: policy))
        self.logger = logger
    }

    /// Every child's state, restarts and last error.
    public var children: [ChildStatus] { machine.withLock { $0.children } }

    /// Runs `children` until every stage child has finished (then cancels the maintenance ones);
    /// throws ``SupervisorEscalation`` when the restart intensity is exceeded.
    public func run(_ children: [Child]) async throws {
        machine.withLock { machine in
            for child in children { machine.add(child.name, restart: child.restart) }
        }
        let stageCount = children.filter { $0.role == .stage }.count
        try await withThrowingTaskGroup(of: Child.Role.self) { group in
            for child in children {
                group.addTask {
                    try await self.supervise(child)
                    return child.role
                }
            }
            var stagesFinished = 0
            while let role = try await group.next() {
                if role == .stage {
                    stagesFinished += 1
                    if stagesFinished == stageCount { group.cancelAll() }
                }
            }
        }
    }

    private func supervise(_ child: Child) async throws {
        var logger = self.logger
        logger[metadataKey: "child"] = "\(child.name)"
        while true {
            machine.withLock { $0.started(child.name, nowMillis: monotonicNanos() / 1_000_000) }
            let exit: ChildExit
            do {
                try await child.run()
                exit = Task.isCancelled ? .cancelled : .returned
            } catch is CancellationError {
                exit = .cancelled
            } catch {
                exit = Task.isCancelled ? .cancelled : .threw(String(describing: error))
            }
            let shuttingDown = Task.isShuttingDownGracefully
            let decision = machine.withLock { machine in
                if shuttingDown { machine.beginShutdown() }
                return machine.exited(child.name, exit: exit, nowMillis: monotonicNanos() / 1_000_000, wallMillis: wallClockMicros() / 1000)
            }
            switch decision {
            case .finished:
                await child.onFinished()
                return
            case .restart(let millis):
                let error: String = if case .threw(let message) = exit { message } else { "stopped unexpectedly" }
                logger.error("child failed; restarting after backoff", metadata: ["error": "\(error)", "backoff_ms": "\(millis)"])
                do {
                    try await Task.sleep(for: .milliseconds(millis))
                } catch {
                    await child.onFinished()
                    return
                }
            case .escalate(let reason):
                logger.critical("restart intensity exceeded; stopping the service", metadata: ["reason": "\(reason)"])
                throw SupervisorEscalation(reason: reason)
            }
        }
    }
}
