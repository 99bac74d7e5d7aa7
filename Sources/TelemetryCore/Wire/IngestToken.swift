/// Names the batches one `POST /v1/samples` made (the hub's `X-Ingest-Token`), so a session read
/// (`after=<token>`) is served only by a node that has committed them all: batch ids
/// `<prefix>-<first>` … `<prefix>-<last>`, recorded by the processor in `ingested_batches` as
/// `hub:<id>` in the transaction that stores their samples.
///
/// The text form is `t1.<first>.<last>.<prefix in base64url>`: opaque to clients, safe in a
/// header and a query string whatever the hub id holds.
public struct IngestToken: Sendable, Equatable, CustomStringConvertible {
    /// The hub's batch id prefix (its id and start epoch).
    public var prefix: String
    /// The first batch sequence number (one request's batches are numbered in a row).
    public var first: Int
    /// The last batch sequence number.
    public var last: Int

    /// At most this many batches per token (a request cannot make more than a hub buffer holds;
    /// `ingest.buffer_batches` is 256 by default).
    public static let maxBatches = 100_000
    /// The longest prefix accepted, in bytes.
    public static let maxPrefixBytes = 256

    /// The token of batches `first…last` under `prefix`.
    public init(prefix: String, first: Int, last: Int) {
        self.prefix = prefix
        self.first = first
        self.last = last
    }

    /// Parses the text form; nil for anything else (a 400 naming `after`).
    public init?(parsing text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "t1", let first = Int(parts[1]), let last = Int(parts[2]),
              first >= 1, last >= first, last - first < Self.maxBatches,
              let bytes = Base64URL.decode(parts[3]), !bytes.isEmpty, bytes.count <= Self.maxPrefixBytes,
              !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }),
              let prefix = String(validating: bytes, as: UTF8.self) else { return nil }
        self.init(prefix: prefix, first: first, last: last)
    }

    /// `t1.<first>.<last>.<prefix>`.
    public var description: String { "t1.\(first).\(last).\(Base64URL.encode(Array(prefix.utf8)))" }

    /// The `ingested_batches` keys of the batches.
    public var batchKeys: [String] { last < first ? [] : (first...last).map { "hub:\(prefix)-\($0)" } }
}

/// Base64 with the URL alphabet and no padding (RFC 4648 §5).
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// `bytes` encoded.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for (n, byte) in chunk.enumerated() { value |= Int(byte) << (16 - 8 * n) }
            for n in 0..<(chunk.count + 1) { out.append(alphabet[(value >> (18 - 6 * n)) & 63]) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of `text`, or nil when it is not unpadded base64url.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var out: [UInt8] = []
        var value = 0, bits = 0
        for byte in text.utf8 {
            let digit: Int
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): digit = Int(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): digit = Int(byte - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(byte - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "-"): digit = 62
            case UInt8(ascii: "_"): digit = 63
            default: return nil
            }
            value = (value << 6) | digit
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((value >> bits) & 0xFF))
                value &= (1 << bits) - 1
            }
        }
        // Leftover bits must be zero padding of fewer than 6 bits (1 leftover character is invalid).
        guard bits < 6, value == 0 else { return nil }
        return out
    }
}
