import ArgumentParser
import Foundation
import Redis

/// A runtime failure: telemetryctl prints `telemetryctl: <description>` on one line and exits 1.
/// Usage errors are ArgumentParser's (`ValidationError`, exit 64); nothing else uses 64.
struct CtlFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One JSON document as text: sorted keys, so the output is stable.
enum CtlJSON {
    static func text(_ object: Any, pretty: Bool = false) throws -> String {
        let options: JSONSerialization.WritingOptions = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: options), as: UTF8.self)
    }
}

/// A progress bar on stderr while a command walks a long stream; nothing at all when stderr is
/// not a terminal, so scripts and pipes see only the command's output.
final class CtlProgress {
    private let total: Int
    private let label: String
    private let terminal = isatty(STDERR_FILENO) == 1
    private var done = 0
    private var lastDraw = ContinuousClock.now - .seconds(1)

    init(total: Int, label: String) {
        self.total = max(total, 0)
        self.label = label
    }

    /// One more item done; redraws at most ten times a second.
    func advance() {
        done += 1
        guard terminal, ContinuousClock.now - lastDraw >= .milliseconds(100) else { return }
        lastDraw = .now
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r\u{1B}[2K\(label) [\(bar)] \(done)/\(total) \(Int(fraction * 100))%".utf8))
    }

    /// Prints `line` on stdout above the bar.
    func print(_ line: String) {
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        Swift.print(line)
    }

    /// Clears the bar.
    func finish() {
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }
}

extension RedisOptions {
    /// Runs `body` with a client of the Redis in force; any failure talking to it becomes one
    /// line naming the address (exit 1).
    func withClient<T>(_ body: (RedisSettings, RedisClient) async throws -> T) async throws -> T {
        let settings: RedisSettings
        do {
            settings = try await self.settings()
        } catch {
            throw CtlFailure("configuration: \(error)")
        }
        let client = settings.client()
        do {
            return try await body(settings, client)
        } catch let error as CtlFailure {
            throw error
        } catch let error as ExitCode {
            throw error
        } catch let error as RedisError {
            let address = "\(settings.host):\(settings.port)"
            throw CtlFailure("\(error)".contains(address) ? "\(error)" : "redis at \(address): \(error)")
        }
    }
}
