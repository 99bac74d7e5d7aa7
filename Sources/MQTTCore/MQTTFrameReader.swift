/// One control packet's bytes: its first byte (type and flags) and its body.
public struct MQTTFrame: Sendable, Equatable {
    /// The fixed header's first byte: packet type (high nibble) and flags.
    public var first: UInt8
    /// The variable header and payload; for a packet over the reader's limit, only its first
    /// ``MQTTFrameReader/oversizedPrefixBytes`` bytes.
    public var body: [UInt8]
    /// The body's full length when the packet was over the limit and `body` holds only its start.
    public var truncatedFrom: Int?

    /// A frame.
    public init(first: UInt8, body: [UInt8], truncatedFrom: Int? = nil) {
        self.first = first
        self.body = body
        self.truncatedFrom = truncatedFrom
    }
}

/// Splits a byte stream into control packets (fixed header: the type byte and a Variable Byte
/// Integer of at most four bytes). A packet announced larger than `maxPacketBytes` is never
/// buffered whole: its first ``oversizedPrefixBytes`` bytes are returned as a truncated frame (so
/// a PUBLISH's topic and packet id can be read, the message dead-lettered and acknowledged, and the
/// session go on), and the rest is discarded as it arrives.
public struct MQTTFrameReader: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes of an oversized packet still to discard.
    private var discarding = 0
    /// The largest packet accepted whole (fixed header included).
    public let maxPacketBytes: Int
    /// How much of an oversized packet is kept: a topic (at most 65 537 bytes), a packet id and
    /// (5.0) properties.
    public static let oversizedPrefixBytes = 70_000

    /// A reader refusing packets over `maxPacketBytes`.
    public init(maxPacketBytes: Int) { self.maxPacketBytes = maxPacketBytes }

    /// Bytes not yet returned as frames.
    public var buffered: Int { buffer.count - start }

    /// Adds received bytes.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        var bytes = bytes[...]
        if discarding > 0 {
            let dropped = min(discarding, bytes.count)
            discarding -= dropped
            bytes = bytes.dropFirst(dropped)
        }
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, nil when more bytes are needed.
    public mutating func next() throws(MQTTError) -> MQTTFrame? {
        guard buffer.count - start >= 2 else { return nil }
        var length = 0
        var multiplier = 1
        var index = start + 1
        while true {
            guard index < buffer.count else { return nil }
            let byte = buffer[index]
            length += Int(byte & 0x7F) * multiplier
            index += 1
            if byte & 0x80 == 0 { break }
            multiplier *= 128
            guard index - start <= 4 else { throw MQTTError("malformed remaining length (more than four bytes)") }
        }
        guard index - start + length <= maxPacketBytes else {
            // Keep the start, discard the rest (now and as it arrives).
            let keep = min(length, Self.oversizedPrefixBytes)
            guard buffer.count - index >= keep else { return nil }
            let frame = MQTTFrame(first: buffer[start], body: Array(buffer[index..<(index + keep)]), truncatedFrom: length)
            let available = min(length, buffer.count - index)
            discarding = length - available
            start = index + available
            return frame
        }
        guard buffer.count - index >= length else { return nil }
        let frame = MQTTFrame(first: buffer[start], body: Array(buffer[index..<(index + length)]))
        start = index + length
        return frame
    }
}

/// Reads the fields of a packet body, every length checked.
struct MQTTReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { offset >= bytes.count }

    mutating func u8() throws(MQTTError) -> UInt8 {
        guard offset < bytes.count else { throw MQTTError("packet cut short at byte \(offset)") }
        offset += 1
        return bytes[offset - 1]
    }

    mutating func u16() throws(MQTTError) -> UInt16 { UInt16(try u8()) << 8 | UInt16(try u8()) }

    mutating func u32() throws(MQTTError) -> UInt32 { UInt32(try u16()) << 16 | UInt32(try u16()) }

    mutating func varint() throws(MQTTError) -> Int {
        var value = 0
        for shift in stride(from: 0, to: 28, by: 7) {
            let byte = try u8()
            value |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
        }
        throw MQTTError("malformed variable byte integer")
    }

    mutating func binary() throws(MQTTError) -> [UInt8] {
        let count = Int(try u16())
        guard bytes.count - offset >= count else { throw MQTTError("a field of \(count) bytes is cut short") }
        offset += count
        return Array(bytes[(offset - count)..<offset])
    }

    /// A UTF-8 string: valid UTF-8 without NUL (MQTT-1.5.3-1, -2).
    mutating func string() throws(MQTTError) -> String {
        let raw = try binary()
        guard !raw.contains(0), let text = String(validating: raw, as: UTF8.self) else { throw MQTTError("a string is not valid UTF-8 or holds NUL") }
        return text
    }

    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return offset < bytes.count ? Array(bytes[offset...]) : []
    }

    mutating func end(_ packet: String) throws(MQTTError) {
        guard atEnd else { throw MQTTError("\(packet): \(bytes.count - offset) bytes after the packet's fields") }
    }

    /// The properties the client uses; every other known one is read and skipped, an unknown
    /// identifier is an error (5.0 §2.2.2.2).
    struct Properties {
        var sessionExpiry: UInt32?
        var receiveMaximum: UInt16?
        var maximumPacketSize: UInt32?
        var assignedClientID: String?
        var reasonString: String?
        var topicAlias: UInt16?
        var serverKeepAlive: UInt16?
    }

    mutating func properties() throws(MQTTError) -> Properties {
        let length = try varint()
        guard bytes.count - offset >= length else { throw MQTTError("properties of \(length) bytes are cut short") }
        let end = offset + length
        var found = Properties()
        while offset < end {
            let identifier = try varint()
            switch identifier {
            case 0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A: _ = try u8()
            case 0x13: found.serverKeepAlive = try u16()
            case 0x22: _ = try u16()
            case 0x21: found.receiveMaximum = try u16()
            case 0x23: found.topicAlias = try u16()
            case 0x02, 0x18: _ = try u32()
            case 0x11: found.sessionExpiry = try u32()
            case 0x27: found.maximumPacketSize = try u32()
            case 0x0B: _ = try varint()
            case 0x03, 0x08, 0x15, 0x1A, 0x1C: _ = try string()
            case 0x12: found.assignedClientID = try string()
            case 0x1F: found.reasonString = try string()
            case 0x09, 0x16: _ = try binary()
            case 0x26: _ = (try string(), try string())
            default: throw MQTTError("unknown property 0x\(String(identifier, radix: 16))")
            }
            guard offset <= end else { throw MQTTError("a property runs past the properties' length") }
        }
        return found
    }
}
