import Foundation
import Testing

/// Every file of the committed fuzz corpus (Tests/Fuzz/corpus/<target>/) through its decoder, as
/// an ordinary test: `make test` replays what `make fuzz` found, without a sanitizer build.
@Suite("Fuzz corpus")
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    @Test("each target has a seed corpus, and every file of it decodes without a trap", arguments: DecoderProbes.targets.keys.sorted())
    func replay(target: String) throws {
        let folder = Self.corpus.appendingPathComponent(target)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(!files.isEmpty, "no seed corpus in \(folder.path)")
        let probe = try #require(DecoderProbes.targets[target])
        for file in files {
            probe(Array(try Data(contentsOf: folder.appendingPathComponent(file))))
        }
    }
}
