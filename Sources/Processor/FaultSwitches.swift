import Foundation
import Synchronization

/// Test-only fault injection for the fault drills, off unless its environment variable is set:
/// `TELEMETRY_FAULT_EXIT_AFTER_COMMITS=N` ends the process abruptly (as `kill -9` would) right after
/// the N-th committed batch, before it is acknowledged — the redelivery-after-commit drill.
///
/// `TELEMETRY_FAULT_STALL_FILE=PATH`: once PATH exists, the consumer loop stops making progress
/// (it still honours shutdown) — the watchdog drill.
///
/// `TELEMETRY_FAULT_WORKER_THROWS=N`: the first N items committed by the workers make their worker
/// throw right after the COMMIT, before the acknowledgement — the supervisor drill.
///
/// `TELEMETRY_FAULT_CRASH_ON_DEVICE=NAME`: the process aborts (as a trap would) when a worker
/// prepares an item naming device NAME — the poison drill: whatever the cause of a crash, such an
/// input must end in the dead letters, not in a crash loop.
package final class FaultSwitches: Sendable {
    private let crashOnDevice: String?
    private let exitAfterCommits: Int?
    private let stallFile: String?
    private let commits = Atomic<Int>(0)
    private let workerThrows: Int
    private let workerThrown = Atomic<Int>(0)

    /// The error a worker throws when its fault switch fires.
    struct InjectedFault: Error, CustomStringConvertible {
        let number: Int
        var description: String { "injected worker fault \(number) (TELEMETRY_FAULT_WORKER_THROWS)" }
    }

    package init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        crashOnDevice = environment["TELEMETRY_FAULT_CRASH_ON_DEVICE"]
        exitAfterCommits = environment["TELEMETRY_FAULT_EXIT_AFTER_COMMITS"].flatMap(Int.init)
        stallFile = environment["TELEMETRY_FAULT_STALL_FILE"]
        workerThrows = environment["TELEMETRY_FAULT_WORKER_THROWS"].flatMap(Int.init) ?? 0
    }

    /// Throws while injected worker faults remain.
    func workerCheckpoint() throws {
        guard workerThrows > 0 else { return }
        let n = workerThrown.add(1, ordering: .relaxed).newValue
        if n <= workerThrows { throw InjectedFault(number: n) }
    }

    /// Aborts the process when `devices` names the crash switch's device.
    func crashIfNamed(_ devices: [String]) {
        guard let crashOnDevice, devices.contains(crashOnDevice) else { return }
        FileHandle.standardError.write(Data("fault switch: crashing on device \(crashOnDevice)\n".utf8))
        abort()
    }

    /// True once the stall file exists.
    var stallRequested: Bool { stallFile.map { FileManager.default.fileExists(atPath: $0) } ?? false }

    /// Called after each COMMIT, before the acknowledgement.
    func committed() {
        guard let limit = exitAfterCommits else { return }
        if commits.add(1, ordering: .relaxed).newValue >= limit {
            FileHandle.standardError.write(Data("fault switch: exiting after commit \(limit), before its acknowledgement\n".utf8))
            _exit(137)
        }
    }
}
