import Foundation
import Synchronization
import TelemetryCore

/// A progress bar on stderr (a line per step when stderr is not a terminal): the bench knows how
/// many seconds its plan takes and advances by the seconds each step waited or worked.
final class Progress: Sendable {
    private struct State {
        var done: Double = 0
        var total: Double
        var lastLabel = ""
    }

    private let state: Mutex<State>
    private let started = ContinuousClock.now
    private let terminal = isatty(STDERR_FILENO) == 1

    init(totalSeconds: Double) {
        state = Mutex(State(total: max(1, totalSeconds)))
    }

    /// Sleeps `seconds`, redrawing the bar as it goes.
    func sleep(_ seconds: Double, label: String) async throws {
        let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        let startDone = state.withLock { $0.done }
        while ContinuousClock.now < end {
            let left = (end - ContinuousClock.now).totalSeconds
            state.withLock { $0.done = min($0.total, startDone + seconds - left) }
            draw(label)
            try await Task.sleep(for: .milliseconds(Int(min(250, max(1, left * 1000)))))
        }
        state.withLock { $0.done = min($0.total, startDone + seconds) }
        draw(label)
    }

    /// Marks `seconds` of the plan as done after work that did not sleep.
    func advance(_ seconds: Double, label: String) {
        state.withLock { $0.done = min($0.total, $0.done + seconds) }
        draw(label)
    }

    /// A line of its own, above the bar.
    func note(_ text: String) {
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        FileHandle.standardError.write(Data((text + "\n").utf8))
        draw(state.withLock { $0.lastLabel })
    }

    func finish() {
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }

    private func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }

    private func draw(_ label: String) {
        let (done, total, changed) = state.withLock { s -> (Double, Double, Bool) in
            let changed = s.lastLabel != label
            s.lastLabel = label
            return (s.done, s.total, changed)
        }
        let fraction = min(1, done / total)
        let elapsed = Int((ContinuousClock.now - started).totalSeconds)
        if terminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            let line = "\r\u{1B}[2K\(bar) \(pad(Int(fraction * 100), 3))% \(pad(elapsed, 4))s  \(label)"
            FileHandle.standardError.write(Data(line.utf8))
        } else if changed {
            FileHandle.standardError.write(Data("[\(pad(Int(fraction * 100), 3))% \(pad(elapsed, 4))s] \(label)\n".utf8))
        }
    }
}
