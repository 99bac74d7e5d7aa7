/// MQTT 3.1.1 and 5.0 control packets, as far as a subscribing client needs them (OASIS MQTT
/// Version 3.1.1 and Version 5.0): the client's CONNECT, SUBSCRIBE, PUBACK, PINGREQ and DISCONNECT,
/// and the server's CONNACK, SUBACK, PUBLISH, PINGRESP and DISCONNECT. Pure values: no I/O.
public enum MQTTPacket: Sendable, Equatable {
    case connect(Connect)
    case connack(Connack)
    case publish(Publish)
    /// PUBACK: the packet id and (5.0) the reason code, 0 for success.
    case puback(packetID: UInt16, reason: UInt8)
    case subscribe(Subscribe)
    case suback(Suback)
    case pingreq
    case pingresp
    /// DISCONNECT: (5.0) the reason code and reason string.
    case disconnect(reason: UInt8, reasonString: String?)

    /// The CONNECT packet.
    public struct Connect: Sendable, Equatable {
        /// The client identifier.
        public var clientID: String
        /// 3.1.1 clean session, 5.0 clean start.
        public var cleanStart: Bool
        /// Seconds between control packets the client promises (0: none).
        public var keepAliveSeconds: UInt16
        /// The user name, if any.
        public var username: String?
        /// The password, if any.
        public var password: [UInt8]?
        /// 5.0: how long the server keeps the session after the connection closes (0: not at all).
        public var sessionExpirySeconds: UInt32
        /// 5.0: most QoS 1 and 2 messages the server may have unacknowledged at once.
        public var receiveMaximum: UInt16
        /// 5.0: the largest packet the client accepts.
        public var maximumPacketSize: UInt32

        /// A CONNECT.
        public init(clientID: String, cleanStart: Bool, keepAliveSeconds: UInt16, username: String? = nil, password: [UInt8]? = nil,
                    sessionExpirySeconds: UInt32 = 0, receiveMaximum: UInt16 = 65_535, maximumPacketSize: UInt32 = 268_435_455) {
            self.clientID = clientID
            self.cleanStart = cleanStart
            self.keepAliveSeconds = keepAliveSeconds
            self.username = username
            self.password = password
            self.sessionExpirySeconds = sessionExpirySeconds
            self.receiveMaximum = receiveMaximum
            self.maximumPacketSize = maximumPacketSize
        }
    }

    /// The CONNACK packet.
    public struct Connack: Sendable, Equatable {
        /// Whether the server resumed a session it held for the client id.
        public var sessionPresent: Bool
        /// 3.1.1 return code or 5.0 reason code; 0 is success.
        public var code: UInt8
        /// 5.0: the server's receive maximum, if it sent one.
        public var receiveMaximum: UInt16?
        /// 5.0: the largest packet the server accepts, if it said.
        public var maximumPacketSize: UInt32?
        /// 5.0: the id the server assigned, when the client sent none.
        public var assignedClientID: String?
        /// 5.0: a human-readable reason.
        public var reasonString: String?
        /// 5.0: the keepalive the server requires instead of the client's (Server Keep Alive).
        public var serverKeepAlive: UInt16?

        /// A CONNACK.
        public init(sessionPresent: Bool, code: UInt8, receiveMaximum: UInt16? = nil, maximumPacketSize: UInt32? = nil,
                    assignedClientID: String? = nil, reasonString: String? = nil, serverKeepAlive: UInt16? = nil) {
            self.serverKeepAlive = serverKeepAlive
            self.sessionPresent = sessionPresent
            self.code = code
            self.receiveMaximum = receiveMaximum
            self.maximumPacketSize = maximumPacketSize
            self.assignedClientID = assignedClientID
            self.reasonString = reasonString
        }
    }

    /// The PUBLISH packet (QoS 0 or 1; QoS 2 is never subscribed to).
    public struct Publish: Sendable, Equatable {
        /// The topic name.
        public var topic: String
        /// The application message.
        public var payload: [UInt8]
        /// 0, 1 or 2.
        public var qos: UInt8
        /// Set on a redelivery.
        public var duplicate: Bool
        /// A retained message (sent on subscription).
        public var retain: Bool
        /// The packet id (QoS > 0), else nil.
        public var packetID: UInt16?
        /// The payload's full size when the packet was over the reader's limit and `payload`
        /// holds only its start (such a message is refused, not read).
        public var truncatedFrom: Int?

        /// A PUBLISH.
        public init(topic: String, payload: [UInt8], qos: UInt8, duplicate: Bool = false, retain: Bool = false, packetID: UInt16?,
                    truncatedFrom: Int? = nil) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.duplicate = duplicate
            self.retain = retain
            self.packetID = packetID
            self.truncatedFrom = truncatedFrom
        }
    }

    /// The SUBSCRIBE packet.
    public struct Subscribe: Sendable, Equatable {
        /// The packet id.
        public var packetID: UInt16
        /// Topic filters with the maximum QoS asked for each.
        public var filters: [Filter]

        /// A filter and its QoS.
        public struct Filter: Sendable, Equatable {
            /// The topic filter (`telemetry/+/+`).
            public var filter: String
            /// The maximum QoS asked for.
            public var qos: UInt8
            /// 5.0: 0 sends retained messages at every subscribe, 1 only when the subscription is
            /// new, 2 never.
            public var retainHandling: UInt8

            /// A filter.
            public init(_ filter: String, qos: UInt8, retainHandling: UInt8 = 0) {
                self.filter = filter
                self.qos = qos
                self.retainHandling = retainHandling
            }
        }

        /// A SUBSCRIBE.
        public init(packetID: UInt16, filters: [Filter]) {
            self.packetID = packetID
            self.filters = filters
        }
    }

    /// The SUBACK packet.
    public struct Suback: Sendable, Equatable {
        /// The SUBSCRIBE's packet id.
        public var packetID: UInt16
        /// Per filter: the granted QoS (0–2), or a failure (0x80 and up).
        public var codes: [UInt8]

        /// A SUBACK.
        public init(packetID: UInt16, codes: [UInt8]) {
            self.packetID = packetID
            self.codes = codes
        }
    }
}

/// The protocol level: 4 is MQTT 3.1.1, 5 is MQTT 5.0.
public enum MQTTVersion: UInt8, Sendable, CaseIterable {
    case v311 = 4
    case v5 = 5

    /// `3.1.1` or `5.0`.
    public var name: String { self == .v311 ? "3.1.1" : "5.0" }
}

/// Why bytes are not a packet (a protocol error: the connection is closed).
public struct MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong.
    public let message: String
    /// The error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}
