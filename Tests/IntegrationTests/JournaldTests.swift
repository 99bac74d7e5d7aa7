import Foundation
import Testing

/// The journald handler speaks the real native protocol: a test captures the datagrams on a
/// socket it binds at /run/systemd/journal/socket inside a private mount namespace.
@Suite("journald native protocol")
struct JournaldTests {
    static let capture = #"""
        import json, os, socket, struct, sys
        path, out = sys.argv[1], sys.argv[2]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        open(out + ".ready", "w").close()
        sock.settimeout(3)
        with open(out, "w") as f:
            try:
                while True:
                    data = sock.recv(1 << 20)
                    fields, i = {}, 0
                    while i < len(data):
                        nl = data.index(b"\n", i)
                        line = data[i:nl]
                        if b"=" in line:
                            key, value = line.split(b"=", 1)
                            i = nl + 1
                        else:
                            key, size = line, struct.unpack("<Q", data[nl + 1:nl + 9])[0]
                            value = data[nl + 9:nl + 9 + size]
                            i = nl + 9 + size + 1
                        fields[key.decode()] = value.decode("utf-8", "replace")
                    f.write(json.dumps(fields) + "\n")
                    f.flush()
            except socket.timeout:
                pass
        """#

    @Test("records carry MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, CODE_FILE/LINE/FUNC and metadata as upper-case fields")
    func nativeProtocol() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try Self.capture.write(toFile: "\(work)/capture.py", atomically: true, encoding: .utf8)
        let hub = "\(TestServers.binDirectory)/telemetry-hub"
        let script = """
            set -e
            mount -t tmpfs none /run/systemd
            mkdir -p /run/systemd/journal
            python3 \(work)/capture.py /run/systemd/journal/socket \(work)/records.jsonl &
            while [ ! -f \(work)/records.jsonl.ready ]; do sleep 0.05; done
            LOG_JOURNAL=true HTTP_PORT=0 REDIS_PORT=\(try freePort()) SPOOL_DIR=\(work)/spool SIMULATED_ENABLED=true SIMULATED_SENSORS=1 \\
                timeout -s TERM 3 \(hub) || true
            wait
            """
        let (status, output) = try await runTool("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script])
        #expect(status == 0, "\(output)")
        let lines = ((try? String(contentsOfFile: "\(work)/records.jsonl", encoding: .utf8)) ?? "").split(separator: "\n")
        let records = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
        #expect(!records.isEmpty, "no datagram captured: \(output)")
        let ready = try #require(records.first { $0["MESSAGE"] == "hub ready" }, "records: \(records)")
        #expect(ready["PRIORITY"] == "6")
        #expect(ready["SYSLOG_IDENTIFIER"] == "telemetry-hub")
        #expect(ready["CODE_FILE"]?.hasSuffix("HubService.swift") == true)
        #expect(Int(ready["CODE_LINE"] ?? "") != nil)
        #expect(ready["CODE_FUNC"]?.hasPrefix("run") == true)
        #expect(ready["HUB_ID"]?.isEmpty == false && ready["SHARDS"] == "8")
        let warning = try #require(records.first { $0["MESSAGE"]?.contains("redis is not reachable") == true })
        #expect(warning["PRIORITY"] == "4")
        #expect(warning["REDIS"]?.contains("127.0.0.1") == true)
    }

    @Test("field names are upper case, A-Z 0-9 and _, never leading _ or a digit")
    func fieldNames() {
        #expect(JournaldFieldNameProbe.names == ["DEVICE_ID", "TASK_ID", "BATCH_ID_X", "F9LIVES", "HIDDEN", "F"])
    }
}

import Systemd

enum JournaldFieldNameProbe {
    static let names = ["device_id", "task-id", "batch.id x", "9lives", "__hidden", "__"].map(JournaldLogHandler.fieldName)
}
