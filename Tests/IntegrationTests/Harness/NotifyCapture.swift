import Foundation
import Postgres
import Redis
import Testing

/// sd_notify as systemd would see it: binds the `NOTIFY_SOCKET` datagram socket itself and
/// records every datagram (a line per assignment, with its arrival time and datagram number).
final class NotifyCapture {
    static let script = #"""
        import os, socket, sys, time
        path, out = sys.argv[1], sys.argv[2]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(60)
        n = 0
        with open(out, "w") as f:
            f.write("%d\t0\tLISTENING\n" % int(time.time() * 1000)); f.flush()
            try:
                while True:
                    data = sock.recv(65536).decode("utf-8", "replace")
                    n += 1
                    for line in data.split("\n"):
                        if line:
                            f.write("%d\t%d\t%s\n" % (int(time.time() * 1000), n, line)); f.flush()
            except socket.timeout:
                pass
        """#

    struct Message { let millis: Int64; let datagram: Int; let text: String }

    let directory: String
    var socketPath: String { "\(directory)/notify.sock" }
    private let listener = Process()

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.script.write(toFile: "\(directory)/capture.py", atomically: true, encoding: .utf8)
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        listener.arguments = ["\(directory)/capture.py", socketPath, "\(directory)/messages.txt"]
        try listener.run()
        guard try await eventually(timeout: .seconds(10), every: .milliseconds(20), { self.messages.contains { $0.text == "LISTENING" } }) else {
            throw HarnessError("the NOTIFY_SOCKET capture did not start")
        }
    }

    var messages: [Message] {
        ((try? String(contentsOfFile: "\(directory)/messages.txt", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\t", maxSplits: 2)
            guard parts.count == 3, let millis = Int64(parts[0]), let datagram = Int(parts[1]) else { return nil }
            return Message(millis: millis, datagram: datagram, text: String(parts[2]))
        }
    }

    static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    deinit { if listener.isRunning { kill(listener.processIdentifier, SIGKILL) } }
}
