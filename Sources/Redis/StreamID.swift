/// A stream entry id, `<milliseconds>-<sequence>`, both unsigned 64-bit.
package struct StreamID: Comparable, Hashable, Sendable, CustomStringConvertible {
    package let milliseconds: UInt64
    package let sequence: UInt64

    package init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// `0-0`: before every entry (a stream read from its start).
    package static let zero = StreamID(milliseconds: 0, sequence: 0)

    /// Parses a full id; nil for anything else (`+`, `-`, a bare millisecond, a sign, spaces).
    package init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let milliseconds = UInt64(parts[0]), let sequence = UInt64(parts[1]) else { return nil }
        self.init(milliseconds: milliseconds, sequence: sequence)
    }

    /// The smallest id after this one.
    package var successor: StreamID {
        sequence == .max ? StreamID(milliseconds: milliseconds &+ 1, sequence: 0) : StreamID(milliseconds: milliseconds, sequence: sequence + 1)
    }

    package var description: String { "\(milliseconds)-\(sequence)" }

    package static func < (a: StreamID, b: StreamID) -> Bool { (a.milliseconds, a.sequence) < (b.milliseconds, b.sequence) }
}
