import Redis

/// RESP replies as a connection reads them (hiredis's reader, then the conversion to
/// `RESPValue`); shared by `FuzzCorpusTests` and `make fuzz`. A violated invariant traps.
enum RedisProbes {
    static let targets: [String: @Sendable ([UInt8]) -> Void] = ["resp": resp]

    static func resp(_ bytes: [UInt8]) {
        guard let replies = try? RESPReader.replies(bytes, max: 10_000) else { return }
        precondition(replies.count <= bytes.count / 3 + 1, "more replies than the bytes can hold")
    }
}
