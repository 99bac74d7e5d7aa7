import ArgumentParser
import Foundation
import SystemSupport
import TelemetryStatus

/// `telemetryctl status`: each daemon's own view, read from its control socket — children with
/// their state, restarts and last error; dependencies; queue depths; rates; spool; consumer lag.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each daemon's children, dependencies, queues, rates, spool and lag.",
        discussion: """
            Without --socket, looks for hub.sock, processor.sock and query.sock in $RUNTIME_DIRECTORY, \
            $XDG_RUNTIME_DIR/telemetry and /run/telemetry (the first found of each name). \
            --json prints a JSON array with one object per daemon, each the document that \
            `curl --unix-socket PATH http://localhost/v1/status` returns.
            """)

    @Option(name: .long, help: "A daemon's control socket (repeatable).") var socket: [String] = []
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let sockets = socket.isEmpty ? Self.discover(environment: ProcessInfo.processInfo.environment) : socket
        guard !sockets.isEmpty else {
            throw CtlFailure("no control socket found in \(Self.directories(environment: ProcessInfo.processInfo.environment).joined(separator: ", ")); is a daemon running? Use --socket PATH.")
        }
        var documents: [StatusDocument] = []
        var failures: [String] = []
        for path in sockets {
            do {
                let body = try UnixHTTPClient.get(socket: path, path: "/v1/status")
                do {
                    documents.append(try JSONDecoder().decode(StatusDocument.self, from: body))
                } catch {
                    throw UnixHTTPClient.Failure("\(path): the status is not a status document (\(error))")
                }
            } catch {
                failures.append("\(error)")
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(documents), as: UTF8.self))
        } else {
            print(documents.map(StatusScreen.render).joined(separator: "\n"), terminator: "")
        }
        // One line for every daemon that could not be read (exit 1); the others are printed above.
        if !failures.isEmpty { throw CtlFailure(failures.joined(separator: "; ")) }
    }

    static func directories(environment: [String: String]) -> [String] {
        var directories: [String] = []
        if let runtime = environment["RUNTIME_DIRECTORY"], !runtime.isEmpty {
            directories += runtime.split(separator: ":").map(String.init)
        }
        if let xdg = environment["XDG_RUNTIME_DIR"], !xdg.isEmpty { directories.append("\(xdg)/telemetry") }
        directories.append("/run/telemetry")
        return directories
    }

    static func discover(environment: [String: String]) -> [String] {
        let directories = directories(environment: environment)
        return ["hub.sock", "processor.sock", "query.sock"].compactMap { name in
            directories.map { "\($0)/\(name)" }.first { FileManager.default.fileExists(atPath: $0) }
        }
    }
}

/// The human-readable status of one daemon.
enum StatusScreen {
    static func render(_ d: StatusDocument) -> String {
        var lines: [String] = []
        var identity = ["pid \(d.pid)", "up \(duration(d.uptimeSeconds))"]
        if let consumer = d.consumer { identity.insert("consumer \(consumer)", at: 0) }
        if let hub = d.hubID { identity.insert("hub \(hub)", at: 0) }
        lines.append("\(d.service) (\(identity.joined(separator: ", "))): \(d.ready ? "ready" : "NOT READY")")
        if let socket = d.socket { lines.append("  socket        \(socket)") }
        lines.append("  summary       \(d.summary)")
        lines.append("  dependencies  " + d.dependencies.keys.sorted().map { "\($0) \(d.dependencies[$0]!)" }.joined(separator: ", "))
        lines.append("  rates         " + d.rates.keys.sorted().map {
            "\($0.replacingOccurrences(of: "_per_s", with: "")) \(String(format: "%.1f", d.rates[$0]!))/s"
        }.joined(separator: ", "))
        lines.append("  queues        " + d.queues.keys.sorted().map { "\($0) \(d.queues[$0]!)" }.joined(separator: ", "))
        if let spool = d.spool {
            lines.append("  spool         \(spool.records) batches, \(bytes(spool.bytes)) of \(bytes(spool.maxBytes)) (\(spool.directory))")
        }
        if let breaker = d.breaker { lines.append("  breaker       \(breaker)") }
        for bus in d.buses ?? [] {
            var line = "  bus           \(bus.name) (\(bus.kind)): " + (bus.connected ? "open" : "NOT OPEN")
                + ", \(bus.readings) readings, \(bus.samples) samples, \(bus.reconnects) reconnects"
            if !bus.errors.isEmpty {
                line += ", errors " + bus.errors.keys.sorted().map { "\($0) \(bus.errors[$0]!)" }.joined(separator: " ")
            }
            if bus.deadLetters > 0 { line += ", \(bus.deadLetters) dead letters" }
            lines.append(line)
            if let detail = bus.detail { lines.append("                \(detail)") }
            if let error = bus.lastError { lines.append("                last error: \(error)") }
        }
        for broker in d.brokers ?? [] {
            var line = "  mqtt          \(broker.name): " + (broker.connected ? "subscribed" : "NOT CONNECTED")
                + ", \(broker.readings) messages stored, \(broker.samples) in flight, \(broker.reconnects) reconnects"
            if broker.deadLetters > 0 { line += ", \(broker.deadLetters) dead letters" }
            lines.append(line)
            if let detail = broker.detail { lines.append("                \(detail)") }
            if let error = broker.lastError { lines.append("                last error: \(error)") }
        }
        for node in d.nodes ?? [] {
            lines.append("  node          \(node.name) (\(node.role)): \(node.state), lag \(node.lagSeconds.map { String(format: "%.1f s", $0) } ?? "unknown")"
                         + ", \(node.inUse) reads running")
        }
        if d.consumer != nil {
            lines.append("  consumer      lag \(d.consumerLag.map(String.init) ?? "unknown"), pending \(d.pending ?? 0)")
        }
        for slot in d.slots ?? [] {
            let limit = slot.limitBytes.map { " of \(bytes($0)) allowed" } ?? " (no limit)"
            lines.append("  slot          \(slot.name) (\(slot.kind), \(slot.active ? "active" : "INACTIVE")): retains \(bytes(slot.retainedBytes))\(limit), wal \(slot.walStatus)"
                         + (slot.walStatus == "lost" ? ": LOST, its reader must be set up again" : ""))
        }
        if !d.stalledStages.isEmpty {
            lines.append("  STALLED       \(d.stalledStages.joined(separator: ", "))")
        }
        let width = max(12, d.children.map(\.name.count).max() ?? 0)
        lines.append("  " + pad("CHILD", width) + "  " + pad("STATE", 12) + "  RESTARTS  LAST ERROR")
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for child in d.children {
            var error = child.lastError ?? "-"
            if let at = child.lastErrorAtMillis { error += " (\(duration(Int((now - at) / 1000))) ago)" }
            lines.append("  " + pad(child.name, width) + "  " + pad(child.state, 12) + "  " + pad(String(child.restarts), 8, right: true) + "  " + error)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - s.count))
        return right ? fill + s : s + fill
    }

    static func duration(_ seconds: Int) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
        if seconds < 86_400 { return "\(seconds / 3600)h\(seconds % 3600 / 60)m" }
        return "\(seconds / 86_400)d\(seconds % 86_400 / 3600)h"
    }

    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }
}

/// A minimal blocking HTTP/1.1 GET over a Unix socket (the CLI runs no event loop).
enum UnixHTTPClient {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func get(socket path: String, path target: String, timeoutSeconds: Int = 5) throws -> Data {
        do {
            let socket = try UnixSocket(connectingTo: path, timeoutSeconds: timeoutSeconds)
            try socket.send(Array("GET \(target) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAccept: application/json\r\n\r\n".utf8))
            return try body(of: socket.receiveAll(), from: path)
        } catch let error as SystemError where error.operation == "connect" {
            let reason = error.isPermissionDenied ? "permission denied (are you in the socket's group, usually telemetry?)" : "\(error)"
            throw Failure("\(path): cannot connect: \(reason)")
        } catch let error as SystemError {
            throw Failure("\(path): \(error)")
        }
    }

    /// The body of a complete response (Content-Length, chunked, or until close).
    static func body(of response: [UInt8], from path: String) throws -> Data {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, response.count - 3)).first(where: { Array(response[$0..<$0 + 4]) == separator }) else {
            throw Failure("\(path): incomplete HTTP response")
        }
        let head = String(decoding: response[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let code = Int(statusParts[1]) else { throw Failure("\(path): malformed status line") }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(response[(end + 4)...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var decoded: [UInt8] = []
            var index = 0
            while let lineEnd = (index..<max(index, body.count - 1)).first(where: { body[$0] == 13 && body[$0 + 1] == 10 }),
                  let size = Int(String(decoding: body[index..<lineEnd], as: UTF8.self).split(separator: ";").first ?? "", radix: 16),
                  size > 0, lineEnd + 2 + size <= body.count {
                decoded += body[(lineEnd + 2)..<(lineEnd + 2 + size)]
                index = lineEnd + 2 + size + 2
            }
            guard index < body.count, body[index] == UInt8(ascii: "0") else {
                throw Failure("\(path): the chunked response was cut short")
            }
            body = decoded
        } else if let length = headers["content-length"].flatMap(Int.init) {
            guard length <= body.count else { throw Failure("\(path): the response was cut short (\(body.count) of \(length) bytes)") }
            body = Array(body[0..<length])
        }
        guard code == 200 else { throw Failure("\(path): HTTP \(code): \(String(decoding: body, as: UTF8.self))") }
        return Data(body)
    }
}
