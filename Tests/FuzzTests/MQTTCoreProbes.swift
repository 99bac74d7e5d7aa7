import MQTTCore

/// The MQTT packet decoder (what a broker, or anything posing as one, sends the hub), with the
/// invariants that must hold whatever the bytes. Shared by `FuzzCorpusTests` and `make fuzz`.
enum MQTTCoreProbes {
    /// The fuzz targets of this module, by name.
    static let targets: [String: @Sendable ([UInt8]) -> Void] = ["mqtt_packet": packets]

    /// A byte stream framed and decoded in both protocol versions: a frame is never over the
    /// limit, and what decodes re-encodes to bytes that decode to the same packet.
    static func packets(_ bytes: [UInt8]) {
        for version in MQTTVersion.allCases {
            let codec = MQTTCodec(version: version)
            var frames = MQTTFrameReader(maxPacketBytes: 4096)
            frames.append(bytes)
            while let frame = try? frames.next() {
                precondition(frame.body.count <= max(4096, MQTTFrameReader.oversizedPrefixBytes), "a frame over the limit")
                precondition(frame.truncatedFrom == nil || frame.truncatedFrom! > frame.body.count, "a truncated frame that is whole")
                guard let packet = try? codec.decode(frame) else { continue }
                if case .publish(let publish) = packet, publish.truncatedFrom != nil { continue }  // refused, not re-encoded
                var again = MQTTFrameReader(maxPacketBytes: 1 << 20)
                again.append(codec.encode(packet))
                guard let reframed = try? again.next(), let decoded = try? codec.decode(reframed) else {
                    preconditionFailure("a decoded packet does not decode once re-encoded: \(packet)")
                }
                precondition(decoded == packet, "re-encoding changed the packet")
            }
        }
    }
}
