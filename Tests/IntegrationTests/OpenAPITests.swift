import Foundation
import Testing

/// Docs/openapi.yaml against the live daemons: Schemathesis (from PyPI, in the tests' venv)
/// generates requests from the description, edge cases and fuzzed ones, and checks every
/// answer: no 5xx, every status, header, content type and body as described, 405 for a wrong
/// method. Hooks for the NDJSON body are in Tests/Schemathesis/hooks.py.
@Suite("OpenAPI description (real Redis and PostgreSQL, Schemathesis)", .serialized)
struct OpenAPITests {
    static let examples = "150"
    static let seed = "16"

    /// The schemathesis executable of the tests' venv, or a failure saying how to get it.
    static func schemathesis() throws -> String {
        let python = TestServers.environment["TELEMETRY_PYTHON"] ?? "\(TestServers.logDirectory)/../../venv/bin/python"
        let path = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("schemathesis").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError("\(path) is missing: `make deps-test` installs schemathesis into the venv (make test runs it)")
        }
        return path
    }

    /// Runs schemathesis over the operations tagged `tag` at `port`; returns its status and output.
    static func run(tag: String, port: Int, headers: [String] = []) async throws -> (Int32, String) {
        let arguments = ["run", TestServers.root.appendingPathComponent("Docs/openapi.yaml").path, "--url", "http://127.0.0.1:\(port)",
                         "--include-tag", tag, "--checks", "all",
                         // The body rules go beyond JSON Schema (names and ids are limited in UTF-8
                         // bytes, not characters), so a described body may still be refused with
                         // a 400 that the description lists: that check would only measure JSON
                         // Schema's reach. Everything the hub answers is checked.
                         "--exclude-checks", "positive_data_acceptance",
                         "--max-examples", examples, "--seed", seed, "--no-color", "--request-timeout", "20"]
            + headers.flatMap { ["--header", $0] }
        return try await runTool(try schemathesis(), arguments, environment: [
            "SCHEMATHESIS_HOOKS": "hooks", "PYTHONPATH": TestServers.root.appendingPathComponent("Tests/Schemathesis").path,
            "HOME": TestServers.logDirectory,
        ], directory: TestServers.logDirectory)  // its .schemathesis cache stays out of the tree
    }

    @Test("schemathesis finds no failure against a live hub (with a token), a live processor and a live query daemon (with a token)")
    func conformance() async throws {
        let deployment = try Deployment()
        let token = "openapi-test-token-0123456789"
        let hub = try Daemon("telemetry-hub", name: "openapi-hub",
                             environment: deployment.hubEnvironment(sensors: 1, readings: 3, rate: 5, extra: ["HTTP_INGEST_TOKEN": token]))
        let processor = try Daemon("telemetry-processor", name: "openapi-processor", environment: deployment.processorEnvironment())
        let hubPort = try await hub.httpPort()
        let processorPort = try await processor.httpPort()
        let ready = try await eventually(timeout: .seconds(30)) {
            let hubReady = try await hub.get("/ready").0
            let processorReady = try await processor.get("/ready").0
            return hubReady == 200 && processorReady == 200
        }
        #expect(ready, "\(hub.tail)\n\(processor.tail)")

        let (hubStatus, hubOutput) = try await Self.run(tag: "hub", port: hubPort, headers: ["Authorization: Bearer \(token)"])
        #expect(hubStatus == 0, "schemathesis against the hub:\n\(hubOutput.suffix(6000))")
        #expect(hubOutput.contains("generated"), "\(hubOutput.suffix(2000))")
        let (processorStatus, processorOutput) = try await Self.run(tag: "processor", port: processorPort)
        #expect(processorStatus == 0, "schemathesis against the processor:\n\(processorOutput.suffix(6000))")
        // Without the token every ingest answer is the described 401.
        let (anonymousStatus, anonymousOutput) = try await Self.run(tag: "hub", port: hubPort)
        #expect(anonymousStatus == 0, "schemathesis against the hub without a token:\n\(anonymousOutput.suffix(6000))")

        // The read API, with its token, over the primary and the test replica.
        // With an analytics replica (analytics reads are refused, 503, without one; the primary
        // plays the replicas, whose health the replica drills running meanwhile must not decide), and session
        // waits kept short (a fuzzed token names batches that never come: 425 after wait_ms).
        let query = try QueryServiceTests.query(deployment, name: "openapi-query", yaml: "read:\n  max_session_wait_ms: 300\n  session_wait_ms: 300\n",
                                                environment: ["HTTP_QUERY_TOKEN": token], analytics: true, replicaPort: nil)
        let queryPort = try await query.httpPort()
        #expect(try await eventually(timeout: .seconds(30)) { try await query.get("/ready").0 == 200 }, "\(query.tail)")
        let (queryStatus, queryOutput) = try await Self.run(tag: "query", port: queryPort, headers: ["Authorization: Bearer \(token)"])
        #expect(queryStatus == 0, "schemathesis against the query daemon:\n\(queryOutput.suffix(6000))")
        let (anonymousQuery, anonymousQueryOutput) = try await Self.run(tag: "query", port: queryPort)
        #expect(anonymousQuery == 0, "schemathesis against the query daemon without a token:\n\(anonymousQueryOutput.suffix(6000))")
        let queryReady = try await query.get("/ready").0
        #expect(query.isRunning && queryReady == 200, "\(query.tail)")
        #expect(await query.stop() == 0, "\(query.tail)")

        // Both daemons came through it alive and ready.
        #expect(hub.isRunning && processor.isRunning)
        let hubReady = try await hub.get("/ready").0
        #expect(hubReady == 200, "\(hub.tail)")
        #expect(await hub.stop() == 0, "\(hub.tail)")
        #expect(await processor.stop() == 0, "\(processor.tail)")
        print("openapi: \(Self.examples) examples per operation, seed \(Self.seed): " + (hubOutput.split(separator: "\n").last { $0.contains("generated") } ?? ""))
    }
}
