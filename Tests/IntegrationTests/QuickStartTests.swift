import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What `make run` prints must work when pasted: this starts `Deploy/dev/run.sh` (what `make run`
/// runs once the servers are up and the daemons built) against the test servers, with a database,
/// key prefix, ports and socket directory of its own, and runs every command of its banner.
@Suite("Quick start", .serialized)
struct QuickStartTests {
    /// The banner's `label: value` lines whose value starts with a program (`psql`, `curl`, or a
    /// path to one), in order.
    static func commands(in banner: String) -> [(label: String, command: String)] {
        banner.split(separator: "\n").compactMap { line in
            guard let colon = line.firstIndex(of: ":"), line.hasPrefix("  ") else { return nil }
            let label = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !label.contains(" "), let program = value.split(separator: " ").first.map(String.init) else { return nil }
            var isDirectory: ObjCBool = false
            let isProgram = program.hasPrefix("/")
                ? FileManager.default.fileExists(atPath: program, isDirectory: &isDirectory) && !isDirectory.boolValue
                    && FileManager.default.isExecutableFile(atPath: program)
                : ["psql", "curl"].contains(program)
            return isProgram ? (label, value) : nil
        }
    }

    /// The processes whose parent is `pid`, with their names (from /proc; no procps needed).
    static func children(of pid: Int32) -> [(pid: Int32, name: String)] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry in
            guard let child = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
            // "pid (name) state ppid …": the name may hold spaces and parentheses.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, Int32(fields[1]) == pid else { return nil }
            return (child, String(stat[stat.index(after: open)..<close]))
        }
    }

    @Test("every command make run prints exits 0 when pasted, and readings of the simulated sensors appear by name")
    func bannerCommands() async throws {
        _ = try TestServers.redis()
        let database = try TestDatabase.create()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("quickstart-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: "\(scratch)/run", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // The shell of someone who ran `make run`: the same environment the script was given.
        let environment = [
            "TELEMETRY_BIN_DIR": TestServers.binDirectory, "PGDATABASE": database.name, "REDIS_KEY_PREFIX": "qs-\(UUID().uuidString.prefix(8))",
            "HUB_HTTP_PORT": "\(try freePort())", "PROCESSOR_HTTP_PORT": "\(try freePort())", "QUERY_HTTP_PORT": "\(try freePort())",
            "RUNTIME_DIRECTORY": "\(scratch)/run", "SPOOL_DIR": "\(scratch)/spool",
        ]
        let script = Process()
        script.executableURL = URL(fileURLWithPath: TestServers.root.appendingPathComponent("Deploy/dev/run.sh").path)
        script.arguments = ["\(TestServers.redisPort)", "\(TestServers.pgPort)", "\(ReplicaTests.replicaPort)"]
        script.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        // The banner goes to a file the test polls (a pipe's readability handler spins on Linux).
        let bannerPath = "\(scratch)/banner.txt"
        _ = FileManager.default.createFile(atPath: bannerPath, contents: nil)
        script.standardOutput = FileHandle(forWritingAtPath: bannerPath)
        script.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try script.run()
        defer {
            // The shell inherits the test process's blocked signals (Foundation spawns with its
            // mask), so it cannot be stopped with Ctrl-C's SIGINT here; the daemons can: once one
            // ends, the script's EXIT trap stops the other, as after Ctrl-C.
            for daemon in Self.children(of: script.processIdentifier) where daemon.name.hasPrefix("telemetry-") {
                kill(daemon.pid, SIGTERM)
            }
            script.waitUntilExit()
        }
        let banner = { (try? String(contentsOfFile: bannerPath, encoding: .utf8)) ?? "" }
        #expect(try await eventually(timeout: .seconds(60)) { banner().contains("stop:") }, "no banner: \(banner())")
        let commands = Self.commands(in: banner())
        // What the banner promises: readings by name, a post, reads through the query daemon,
        // readiness, status and queues.
        #expect(Set(commands.map(\.label)).isSuperset(of: ["readings", "post", "devices", "latest", "series", "ready", "status", "queues"]), "\(commands)")
        let shellEnvironment = environment.filter { $0.key == "RUNTIME_DIRECTORY" }
        for (label, command) in commands {
            var last = (Int32(-1), "")
            let succeeded = try await eventually(timeout: .seconds(60), every: .milliseconds(500)) {
                last = try await runTool("/bin/bash", ["-c", command], environment: shellEnvironment)
                return last.0 == 0
            }
            #expect(succeeded, "\(label): \(command) exited \(last.0): \(last.1)")
        }
        // Rows appear within a minute, by device and metric name.
        let readings = try #require(commands.first { $0.label == "readings" }).command
        #expect(try await eventually(timeout: .seconds(60), every: .seconds(1)) {
            try await runTool("/bin/bash", ["-c", readings], environment: shellEnvironment).1.contains("sim_")
        })
    }

    @Test("make run installs only what running needs: no lint, test or monitoring package, no Python venv")
    func runDependencies() async throws {
        let (status, plan) = try await runTool("/usr/bin/make", ["-n", "-C", TestServers.root.path, "run"])
        #expect(status == 0, "\(plan)")
        let installs = plan.split(separator: "\n").filter { $0.contains("install-packages.sh") }
        #expect(!installs.isEmpty, "make run installs nothing? \(plan)")
        for package in ["prometheus", "yamllint", "shellcheck", "socat", "python3-venv", "iproute2", "wrk"] {
            #expect(!installs.contains { $0.split(separator: " ").contains(Substring(package)) }, "make run installs \(package)")
        }
        #expect(!plan.contains("pip install") && !plan.contains("venv"), "make run builds the tests' venv")
        for package in ["redis-server", "postgresql", "libhiredis-dev", "libpq-dev", "libsystemd-dev"] {
            #expect(installs.contains { $0.split(separator: " ").contains(Substring(package)) }, "make run does not install \(package)")
        }
    }
}
