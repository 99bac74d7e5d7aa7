import Gzip

/// Gzip request bodies (`Content-Encoding: gzip`), inflated under a limit; shared by
/// `FuzzCorpusTests` and `make fuzz`. A violated invariant traps.
enum GzipProbes {
    static let targets: [String: @Sendable ([UInt8]) -> Void] = ["gzip": gzip]

    static func gzip(_ bytes: [UInt8]) {
        if let inflated = try? Gzip.inflate(bytes, limit: 1 << 20) {
            precondition(inflated.count <= 1 << 20, "inflated past the limit")
        }
    }
}
