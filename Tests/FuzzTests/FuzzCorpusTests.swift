import Foundation
import Testing

/// Every file of the committed fuzz corpus (Tests/Fuzz/corpus/<target>/) through its decoder's
/// probe, as an ordinary test: `make test` replays what `make fuzz` found, without a sanitizer
/// build. The probes (one file per module) are compiled into the libFuzzer binaries as they are.
@Suite("Fuzz corpus")
struct FuzzCorpusTests {
    static let targets = TelemetryCoreProbes.targets.merging(BusesProbes.targets) { a, _ in a }.merging(GzipProbes.targets) { a, _ in a }
        .merging(RedisProbes.targets) { a, _ in a }.merging(MQTTCoreProbes.targets) { a, _ in a }
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    @Test("each target has a seed corpus, and every file of it decodes without a trap", arguments: targets.keys.sorted())
    func replay(target: String) throws {
        let folder = Self.corpus.appendingPathComponent(target)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(!files.isEmpty, "no seed corpus in \(folder.path)")
        let probe = try #require(Self.targets[target])
        for file in files {
            probe(Array(try Data(contentsOf: folder.appendingPathComponent(file))))
        }
    }

    @Test("every corpus folder belongs to a target, and fuzz.sh knows every target")
    func inventory() throws {
        let folders = Set(try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path))
        #expect(folders == Set(Self.targets.keys))
        let script = try String(contentsOf: Self.corpus.deletingLastPathComponent().appendingPathComponent("fuzz.sh"), encoding: .utf8)
        for target in Self.targets.keys { #expect(script.contains("[\(target)]="), "fuzz.sh does not build \(target)") }
    }
}
