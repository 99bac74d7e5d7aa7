import Foundation
import Testing

/// The test harness itself: a drill runs tools thousands of times, and every descriptor the
/// runner leaks is inherited by the servers it starts later (a PostgreSQL that cannot start).
@Suite("Harness")
struct HarnessTests {
    @Test("runTool leaks no file descriptor")
    func runToolDescriptors() async throws {
        func open() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }
        _ = try await runTool("/bin/true", [])  // Foundation's one-off descriptors
        let before = open()
        for _ in 0..<200 { _ = try await runTool("/bin/true", []) }
        let after = open()
        #expect(after - before < 20, "200 runs left \(after - before) more descriptors open")
    }
}
