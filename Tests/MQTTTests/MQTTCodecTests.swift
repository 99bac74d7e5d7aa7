import MQTTCore
import Testing

/// MQTT 3.1.1 and 5.0 packets: encoding, decoding and the framing of a byte stream.
@Suite("MQTT packets")
struct MQTTCodecTests {
    static func roundTrip(_ packet: MQTTPacket, _ version: MQTTVersion) throws -> MQTTPacket {
        let codec = MQTTCodec(version: version)
        var frames = MQTTFrameReader(maxPacketBytes: 1 << 20)
        frames.append(codec.encode(packet))
        let frame = try #require(try frames.next())
        #expect(try frames.next() == nil)
        return try codec.decode(frame)
    }

    @Test("every packet a subscribing client exchanges survives encoding and decoding", arguments: MQTTVersion.allCases)
    func roundTrips(version: MQTTVersion) throws {
        let packets: [MQTTPacket] = [
            .connect(.init(clientID: "telemetry-hub-vm-m1", cleanStart: false, keepAliveSeconds: 30, username: "u", password: Array("p\u{0}w".utf8),
                           sessionExpirySeconds: version == .v5 ? 604_800 : 0, receiveMaximum: version == .v5 ? 1000 : 65_535)),
            .connack(.init(sessionPresent: true, code: 0, receiveMaximum: version == .v5 ? 20 : nil)),
            .publish(.init(topic: "telemetry/s1/temperature", payload: Array("21.5".utf8), qos: 1, duplicate: true, retain: false, packetID: 7)),
            .publish(.init(topic: "t", payload: [], qos: 0, packetID: nil)),
            .puback(packetID: 65_535, reason: 0),
            .subscribe(.init(packetID: 1, filters: [.init("telemetry/+/+", qos: 1), .init("a/#", qos: 1)])),
            .suback(.init(packetID: 1, codes: [1, 0x80])),
            .pingreq, .pingresp, .disconnect(reason: 0, reasonString: nil),
        ]
        for packet in packets { #expect(try Self.roundTrip(packet, version) == packet) }
        if version == .v5 {
            #expect(try Self.roundTrip(.disconnect(reason: 0x8B, reasonString: "server shutting down"), .v5) == .disconnect(reason: 0x8B, reasonString: "server shutting down"))
            #expect(try Self.roundTrip(.puback(packetID: 3, reason: 0x10), .v5) == .puback(packetID: 3, reason: 0x10))
        }
    }

    @Test("the bytes of a 3.1.1 CONNECT and PUBACK are the specification's")
    func bytes() {
        let codec = MQTTCodec(version: .v311)
        let connect = codec.encode(.connect(.init(clientID: "c", cleanStart: true, keepAliveSeconds: 60)))
        #expect(connect == [0x10, 13, 0, 4, 0x4D, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, 0, 1, 0x63])
        #expect(codec.encode(.puback(packetID: 258, reason: 0)) == [0x40, 2, 1, 2])
        #expect(codec.encode(.pingreq) == [0xC0, 0])
        #expect(codec.encode(.subscribe(.init(packetID: 10, filters: [.init("a/b", qos: 1)]))) == [0x82, 8, 0, 10, 0, 3, 0x61, 0x2F, 0x62, 1])
    }

    @Test("a stream cut anywhere yields the same packets; remaining lengths of 1 to 4 bytes")
    func framing() throws {
        let codec = MQTTCodec(version: .v5)
        let big = MQTTPacket.publish(.init(topic: "big", payload: [UInt8](repeating: 7, count: 2_100_000), qos: 1, packetID: 9))
        let stream = [MQTTPacket.pingresp, .publish(.init(topic: "x/y", payload: Array(repeating: 1, count: 200), qos: 1, packetID: 2)), big, .pingresp]
        let bytes = stream.flatMap { codec.encode($0) }
        for cut in [1, 2, 3, 5, 130, 4096, 1_000_003] {
            var frames = MQTTFrameReader(maxPacketBytes: 4 << 20)
            var out: [MQTTPacket] = []
            var offset = 0
            while offset < bytes.count {
                frames.append(bytes[offset..<min(offset + cut, bytes.count)])
                offset += cut
                while let frame = try frames.next() { out.append(try codec.decode(frame)) }
            }
            #expect(out == stream, "cut \(cut)")
        }
    }

    @Test("malformed input is an error, never a crash: oversized, a fifth length byte, bad strings, unknown properties, wildcards in topics")
    func malformed() throws {
        // Over the limit: nothing is returned until the start of the packet is there.
        var frames = MQTTFrameReader(maxPacketBytes: 100)
        frames.append([0x30, 0xFF, 0x01])
        #expect(try frames.next() == nil)
        var five = MQTTFrameReader(maxPacketBytes: 1 << 30)
        five.append([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(throws: MQTTError.self) { try five.next() }
        let v5 = MQTTCodec(version: .v5)
        let v311 = MQTTCodec(version: .v311)
        let cases: [(MQTTCodec, MQTTFrame)] = [
            (v311, MQTTFrame(first: 0x32, body: [0, 3, 0x61, 0x2F, 0x2B, 0, 1])),      // topic a/+
            (v311, MQTTFrame(first: 0x32, body: [0, 1, 0x61, 0, 0])),                   // packet id 0
            (v311, MQTTFrame(first: 0x36, body: [0, 1, 0x61, 0, 1])),                   // QoS 3
            (v311, MQTTFrame(first: 0x30, body: [0, 2, 0xC3, 0x28])),                   // invalid UTF-8
            (v311, MQTTFrame(first: 0x30, body: [0, 2, 0x61, 0x00])),                   // NUL in topic
            (v311, MQTTFrame(first: 0x30, body: [0, 9, 0x61])),                         // cut short
            (v5, MQTTFrame(first: 0x30, body: [0, 1, 0x61, 2, 0x7F, 0])),               // unknown property
            (v5, MQTTFrame(first: 0x30, body: [0, 1, 0x61, 3, 0x23, 0, 1])),            // topic alias
            (v5, MQTTFrame(first: 0x30, body: [0, 1, 0x61, 9, 0x01])),                  // properties cut short
            (v311, MQTTFrame(first: 0x20, body: [0, 0, 0])),                            // CONNACK with extra bytes
            (v311, MQTTFrame(first: 0xC0, body: [1])),                                  // PINGREQ with a body
            (v311, MQTTFrame(first: 0x50, body: [0, 1])),                               // PUBREC
            (v311, MQTTFrame(first: 0x90, body: [0, 1])),                               // SUBACK without codes
        ]
        for (codec, frame) in cases {
            #expect(throws: MQTTError.self, "\(frame)") { try codec.decode(frame) }
        }
    }

    @Test("a PUBLISH over the limit comes as its start (topic, packet id, payload size) and the rest is skipped as it arrives; the stream goes on; other oversized packets are errors", arguments: MQTTVersion.allCases)
    func oversized(version: MQTTVersion) throws {
        let codec = MQTTCodec(version: version)
        let big = MQTTPacket.publish(.init(topic: "telemetry/s1", payload: [UInt8](repeating: 9, count: 300_000), qos: 1, packetID: 42))
        let bytes = codec.encode(big) + codec.encode(.publish(.init(topic: "t", payload: [1], qos: 1, packetID: 43)))
        for cut in [7, 4096, 100_000, bytes.count] {
            var frames = MQTTFrameReader(maxPacketBytes: 1024)
            var out: [MQTTPacket] = []
            var offset = 0
            while offset < bytes.count {
                frames.append(bytes[offset..<min(offset + cut, bytes.count)])
                offset += cut
                while let frame = try frames.next() {
                    #expect(frame.body.count <= MQTTFrameReader.oversizedPrefixBytes)
                    out.append(try codec.decode(frame))
                }
                #expect(frames.buffered <= MQTTFrameReader.oversizedPrefixBytes + 8)
            }
            guard out.count == 2, case .publish(let first) = out[0], case .publish(let second) = out[1] else {
                Issue.record("cut \(cut): \(out.count) packets"); continue
            }
            #expect(first.topic == "telemetry/s1" && first.packetID == 42 && first.truncatedFrom == 300_000, "cut \(cut)")
            #expect(second.packetID == 43 && second.payload == [1] && second.truncatedFrom == nil)
        }
        var frames = MQTTFrameReader(maxPacketBytes: 16)
        frames.append(codec.encode(.suback(.init(packetID: 1, codes: [UInt8](repeating: 1, count: 40)))))
        let frame = try #require(try frames.next())
        #expect(throws: MQTTError.self) { try codec.decode(frame) }
    }
}
