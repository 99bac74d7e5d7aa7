/// Encodes and decodes ``MQTTPacket``s for one protocol version. Decoding validates every length
/// and never reads past the bytes given: a malformed packet is an ``MQTTError``, never a crash.
///
/// ```swift
/// let codec = MQTTCodec(version: .v5)
/// let bytes = codec.encode(.pingreq)              // [0xC0, 0x00]
/// var frames = MQTTFrameReader(maxPacketBytes: 1 << 20)
/// frames.append(bytes)
/// let packet = try codec.decode(frames.next()!)   // .pingreq
/// ```
public struct MQTTCodec: Sendable {
    /// The protocol version of the connection.
    public let version: MQTTVersion

    /// A codec for `version`.
    public init(version: MQTTVersion) { self.version = version }

    // MARK: Encoding

    /// The packet's bytes, fixed header included.
    public func encode(_ packet: MQTTPacket) -> [UInt8] {
        var body: [UInt8] = []
        let first: UInt8
        switch packet {
        case .connect(let c):
            first = 0x10
            Self.string(&body, "MQTT")
            body.append(version.rawValue)
            var flags: UInt8 = c.cleanStart ? 0x02 : 0
            if c.username != nil { flags |= 0x80 }
            if c.password != nil { flags |= 0x40 }
            body.append(flags)
            Self.u16(&body, c.keepAliveSeconds)
            if version == .v5 {
                var properties: [UInt8] = []
                if c.sessionExpirySeconds > 0 {
                    properties.append(0x11)
                    Self.u32(&properties, c.sessionExpirySeconds)
                }
                properties.append(0x21)
                Self.u16(&properties, c.receiveMaximum)
                properties.append(0x27)
                Self.u32(&properties, c.maximumPacketSize)
                Self.varint(&body, properties.count)
                body += properties
            }
            Self.string(&body, c.clientID)
            if let username = c.username { Self.string(&body, username) }
            if let password = c.password { Self.binary(&body, password) }
        case .connack(let c):
            first = 0x20
            body = [c.sessionPresent ? 1 : 0, c.code]
            if version == .v5 {
                var properties: [UInt8] = []
                if let receive = c.receiveMaximum { properties.append(0x21); Self.u16(&properties, receive) }
                if let size = c.maximumPacketSize { properties.append(0x27); Self.u32(&properties, size) }
                if let id = c.assignedClientID { properties.append(0x12); Self.string(&properties, id) }
                if let reason = c.reasonString { properties.append(0x1F); Self.string(&properties, reason) }
                if let keepAlive = c.serverKeepAlive { properties.append(0x13); Self.u16(&properties, keepAlive) }
                Self.varint(&body, properties.count)
                body += properties
            }
        case .publish(let p):
            first = 0x30 | (p.duplicate ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 1 : 0)
            Self.string(&body, p.topic)
            if let id = p.packetID { Self.u16(&body, id) }
            if version == .v5 { body.append(0) }
            body += p.payload
        case .puback(let id, let reason):
            first = 0x40
            Self.u16(&body, id)
            if version == .v5 && reason != 0 { body += [reason, 0] }
        case .subscribe(let s):
            first = 0x82
            Self.u16(&body, s.packetID)
            if version == .v5 { body.append(0) }
            for filter in s.filters {
                Self.string(&body, filter.filter)
                body.append(filter.qos | (version == .v5 ? filter.retainHandling << 4 : 0))
            }
        case .suback(let s):
            first = 0x90
            Self.u16(&body, s.packetID)
            if version == .v5 { body.append(0) }
            body += s.codes
        case .pingreq:
            first = 0xC0
        case .pingresp:
            first = 0xD0
        case .disconnect(let reason, let text):
            first = 0xE0
            if version == .v5 && (reason != 0 || text != nil) {
                body.append(reason)
                var properties: [UInt8] = []
                if let text { properties.append(0x1F); Self.string(&properties, text) }
                Self.varint(&body, properties.count)
                body += properties
            }
        }
        var out: [UInt8] = [first]
        Self.varint(&out, body.count)
        return out + body
    }

    // MARK: Decoding

    /// Decodes one frame (``MQTTFrameReader/next()``).
    public func decode(_ frame: MQTTFrame) throws(MQTTError) -> MQTTPacket {
        var r = MQTTReader(frame.body)
        let flags = frame.first & 0x0F
        // Only a PUBLISH may be over the limit (its message is refused, the session goes on).
        guard frame.truncatedFrom == nil || frame.first >> 4 == 3 else {
            throw MQTTError("a packet of type \(frame.first >> 4) over the size limit (\(frame.truncatedFrom ?? 0) bytes)")
        }
        switch frame.first >> 4 {
        case 1:
            guard try r.string() == "MQTT" else { throw MQTTError("CONNECT: protocol name is not MQTT") }
            let level = try r.u8()
            guard level == version.rawValue else { throw MQTTError("CONNECT: protocol level \(level), expected \(version.rawValue)") }
            let connectFlags = try r.u8()
            guard connectFlags & 0x01 == 0, connectFlags & 0x04 == 0 else { throw MQTTError("CONNECT: reserved flag or a will (not supported)") }
            let keepAlive = try r.u16()
            var connect = MQTTPacket.Connect(clientID: "", cleanStart: connectFlags & 0x02 != 0, keepAliveSeconds: keepAlive)
            if version == .v5 {
                let properties = try r.properties()
                connect.sessionExpirySeconds = properties.sessionExpiry ?? 0
                connect.receiveMaximum = properties.receiveMaximum ?? 65_535
                connect.maximumPacketSize = properties.maximumPacketSize ?? 268_435_455
            }
            connect.clientID = try r.string()
            if connectFlags & 0x80 != 0 { connect.username = try r.string() }
            if connectFlags & 0x40 != 0 { connect.password = try r.binary() }
            try r.end("CONNECT")
            return .connect(connect)
        case 2:
            let acknowledge = try r.u8()
            guard acknowledge & 0xFE == 0 else { throw MQTTError("CONNACK: reserved flags set") }
            var connack = MQTTPacket.Connack(sessionPresent: acknowledge & 1 == 1, code: try r.u8())
            if version == .v5 && !r.atEnd {
                let properties = try r.properties()
                connack.receiveMaximum = properties.receiveMaximum
                connack.maximumPacketSize = properties.maximumPacketSize
                connack.assignedClientID = properties.assignedClientID
                connack.reasonString = properties.reasonString
                connack.serverKeepAlive = properties.serverKeepAlive
            }
            try r.end("CONNACK")
            return .connack(connack)
        case 3:
            let qos = (flags >> 1) & 0x03
            guard qos < 3 else { throw MQTTError("PUBLISH: QoS 3") }
            let topic = try r.string()
            guard !topic.isEmpty, !topic.contains("+"), !topic.contains("#") else {
                throw MQTTError("PUBLISH: topic name empty or with a wildcard (topic aliases are not enabled)")
            }
            var packetID: UInt16?
            if qos > 0 {
                let id = try r.u16()
                guard id != 0 else { throw MQTTError("PUBLISH: packet id 0") }
                packetID = id
            }
            if version == .v5 {
                if frame.truncatedFrom != nil {
                    // The properties may run past the part kept: the message is refused anyway.
                    _ = try? r.properties()
                } else {
                    let properties = try r.properties()
                    guard properties.topicAlias == nil else { throw MQTTError("PUBLISH: a topic alias, which the client did not allow") }
                }
            }
            let payload = r.rest()
            return .publish(MQTTPacket.Publish(topic: topic, payload: payload, qos: qos, duplicate: flags & 0x08 != 0, retain: flags & 0x01 != 0,
                                               packetID: packetID, truncatedFrom: frame.truncatedFrom.map { $0 - (frame.body.count - payload.count) }))
        case 4:
            let id = try r.u16()
            var reason: UInt8 = 0
            if version == .v5 && !r.atEnd {
                reason = try r.u8()
                if !r.atEnd { _ = try r.properties() }
            }
            try r.end("PUBACK")
            return .puback(packetID: id, reason: reason)
        case 8:
            guard flags == 0x02 else { throw MQTTError("SUBSCRIBE: flags \(flags)") }
            let id = try r.u16()
            if version == .v5 { _ = try r.properties() }
            var filters: [MQTTPacket.Subscribe.Filter] = []
            while !r.atEnd {
                let filter = try r.string()
                let options = try r.u8()
                filters.append(.init(filter, qos: options & 0x03, retainHandling: version == .v5 ? (options >> 4) & 0x03 : 0))
            }
            guard !filters.isEmpty else { throw MQTTError("SUBSCRIBE: no topic filter") }
            return .subscribe(MQTTPacket.Subscribe(packetID: id, filters: filters))
        case 9:
            let id = try r.u16()
            if version == .v5 { _ = try r.properties() }
            let codes = r.rest()
            guard !codes.isEmpty else { throw MQTTError("SUBACK: no return code") }
            return .suback(MQTTPacket.Suback(packetID: id, codes: codes))
        case 12, 13:
            try r.end(frame.first >> 4 == 12 ? "PINGREQ" : "PINGRESP")
            return frame.first >> 4 == 12 ? .pingreq : .pingresp
        case 14:
            var reason: UInt8 = 0
            var text: String?
            if version == .v5 && !r.atEnd {
                reason = try r.u8()
                if !r.atEnd { text = try r.properties().reasonString }
            }
            try r.end("DISCONNECT")
            return .disconnect(reason: reason, reasonString: text)
        default:
            throw MQTTError("packet type \(frame.first >> 4) is not expected by a subscribing client")
        }
    }

    static func u16(_ out: inout [UInt8], _ value: UInt16) { out += [UInt8(value >> 8), UInt8(value & 0xFF)] }

    static func u32(_ out: inout [UInt8], _ value: UInt32) {
        out += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    static func string(_ out: inout [UInt8], _ value: String) { binary(&out, Array(value.utf8.prefix(65_535))) }

    static func binary(_ out: inout [UInt8], _ value: [UInt8]) {
        let bytes = value.prefix(65_535)
        u16(&out, UInt16(bytes.count))
        out += bytes
    }

    /// A Variable Byte Integer (at most 268 435 455).
    static func varint(_ out: inout [UInt8], _ value: Int) {
        var v = value
        repeat {
            var byte = UInt8(v & 0x7F)
            v >>= 7
            if v > 0 { byte |= 0x80 }
            out.append(byte)
        } while v > 0
    }
}
