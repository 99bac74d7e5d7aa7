import MQTTCore
import NIOCore
import NIOPosix
import NIOSSL

/// Where a broker is and how to reach it: TCP, or TLS verified against a CA file, optionally with
/// a client certificate.
public struct MQTTEndpoint: Sendable, Equatable {
    /// The broker's host name or address.
    public var host: String
    /// Its port.
    public var port: Int
    /// TLS settings; nil for plain TCP.
    public var tls: TLS?

    /// TLS to the broker.
    public struct TLS: Sendable, Equatable {
        /// PEM file of the CAs to trust; nil: the system's.
        public var caFile: String?
        /// PEM client certificate chain, for brokers that ask for one.
        public var certificateFile: String?
        /// The client certificate's PEM private key.
        public var keyFile: String?
        /// The name the broker's certificate must carry; nil: the host (when it is not an address).
        public var serverName: String?

        /// TLS settings.
        public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, serverName: String? = nil) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.serverName = serverName
        }
    }

    /// An endpoint.
    public init(host: String, port: Int, tls: TLS? = nil) {
        self.host = host
        self.port = port
        self.tls = tls
    }
}

/// One connection to a broker on SwiftNIO: ``MQTTPacket``s in and out, framed and decoded with
/// the connection's ``MQTTVersion``. Opened and closed by ``withConnection(to:version:maxPacketBytes:connectTimeout:_:)``.
public enum MQTTConnection {
    /// The packets the broker sends, in order; ends when the connection closes, throws on a
    /// protocol error.
    public struct Inbound: AsyncSequence, Sendable {
        /// A packet.
        public typealias Element = MQTTPacket
        let channel: NIOAsyncChannelInboundStream<ByteBuffer>
        let codec: MQTTCodec
        let maxPacketBytes: Int

        /// The iterator.
        public struct AsyncIterator: AsyncIteratorProtocol {
            var bytes: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
            var frames: MQTTFrameReader
            let codec: MQTTCodec

            /// The next packet; nil once the broker closed the connection.
            public mutating func next() async throws -> MQTTPacket? {
                while true {
                    if let frame = try frames.next() { return try codec.decode(frame) }
                    guard let chunk = try await bytes.next() else {
                        guard frames.buffered == 0 else { throw MQTTError("the connection closed in the middle of a packet") }
                        return nil
                    }
                    frames.append(chunk.readableBytesView)
                }
            }
        }

        /// An iterator over the packets.
        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(bytes: channel.makeAsyncIterator(), frames: MQTTFrameReader(maxPacketBytes: maxPacketBytes), codec: codec)
        }
    }

    /// Sends packets; safe to share between tasks (each packet is written whole).
    public struct Outbound: Sendable {
        let writer: NIOAsyncChannelOutboundWriter<ByteBuffer>
        let codec: MQTTCodec

        /// Writes `packet`.
        public func send(_ packet: MQTTPacket) async throws {
            try await writer.write(ByteBuffer(bytes: codec.encode(packet)))
        }

        /// Writes `packets` in one flush.
        public func send(_ packets: [MQTTPacket]) async throws {
            guard !packets.isEmpty else { return }
            var buffer = ByteBuffer()
            for packet in packets { buffer.writeBytes(codec.encode(packet)) }
            try await writer.write(buffer)
        }
    }

    /// Connects to `endpoint` (TLS handshake included), runs `body` with the connection's packets,
    /// and closes it when `body` returns or throws.
    public static func withConnection<T: Sendable>(
        to endpoint: MQTTEndpoint, version: MQTTVersion, maxPacketBytes: Int, connectTimeout: Duration,
        _ body: (Inbound, Outbound) async throws -> T
    ) async throws -> T {
        let context = try endpoint.tls.map { try makeContext($0) }
        let serverName = endpoint.tls.flatMap { $0.serverName } ?? (isAddress(endpoint.host) ? nil : endpoint.host)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(connectTimeout.components.seconds * 1000 + connectTimeout.components.attoseconds / 1_000_000_000_000_000))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .connect(host: endpoint.host, port: endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
                    }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let codec = MQTTCodec(version: version)
        return try await channel.executeThenClose { inbound, outbound in
            try await body(Inbound(channel: inbound, codec: codec, maxPacketBytes: maxPacketBytes), Outbound(writer: outbound, codec: codec))
        }
    }

    static func makeContext(_ tls: MQTTEndpoint.TLS) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let ca = tls.caFile { configuration.trustRoots = .file(ca) }
        if let certificate = tls.certificateFile {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
        }
        if let key = tls.keyFile { configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)) }
        return try NIOSSLContext(configuration: configuration)
    }

    /// An IPv4 or IPv6 literal (never sent as a TLS server name).
    static func isAddress(_ host: String) -> Bool {
        host.contains(":") || host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." }
    }
}
