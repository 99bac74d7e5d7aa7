import CDeviceBus
#if canImport(Glibc)
import Glibc
#endif

/// Line settings of a UART.
public struct SerialSettings: Sendable, Equatable {
    /// The parity bit of each character.
    public enum Parity: String, Sendable, CaseIterable {
        /// No parity bit, even parity, odd parity.
        case none, even, odd
        var code: CChar {
            switch self {
            case .none: CChar(UInt8(ascii: "N"))
            case .even: CChar(UInt8(ascii: "E"))
            case .odd: CChar(UInt8(ascii: "O"))
            }
        }
    }

    /// Line speed in baud (bits per second); one of the rates ``isSupported(baud:)`` accepts.
    public var baud: Int
    /// Data bits per character, 5…8.
    public var dataBits: Int
    /// The parity bit, if any.
    public var parity: Parity
    /// Stop bits per character, 1 or 2.
    public var stopBits: Int

    /// Line settings; the defaults are 9600 baud, 8N1. Checked only when a port is opened with them.
    public init(baud: Int = 9600, dataBits: Int = 8, parity: Parity = .none, stopBits: Int = 1) {
        self.baud = baud
        self.dataBits = dataBits
        self.parity = parity
        self.stopBits = stopBits
    }

    /// Bits on the wire per character: start, data, parity, stop.
    public var bitsPerCharacter: Int { 1 + dataBits + (parity == .none ? 0 : 1) + stopBits }

    /// Whether `baud` is a rate the port can be set to: 1200, 2400, 4800, 9600, 19 200, 38 400,
    /// 57 600, 115 200, 230 400, 460 800, 500 000, 921 600, 1 000 000 or 2 000 000.
    public static func isSupported(baud: Int) -> Bool { baud > 0 && baud <= Int(UInt32.max) && tb_serial_baud_supported(UInt32(baud)) != 0 }
}

/// An open serial device (termios raw mode). Its reads and writes block the calling thread, so it
/// is used only from an actor that runs on a thread of its own (a bus's ``ThreadExecutor``).
public final class SerialPort {
    /// The device path it was opened with, such as `/dev/ttyUSB0`.
    public let path: String
    /// The line settings it was opened with.
    public let settings: SerialSettings
    private var fd: Int32

    /// Opens `path` non-blocking in raw mode with `settings` (no flow control, input and output
    /// flushed). Throws `open` (reconnect) when it cannot be opened or set up, or the settings are
    /// unsupported.
    public init(path: String, settings: SerialSettings) throws(BusError) {
        self.path = path
        self.settings = settings
        let result = tb_serial_open(path, UInt32(settings.baud), Int32(settings.dataBits), settings.parity.code, Int32(settings.stopBits))
        guard result >= 0 else {
            throw BusError(.open, "cannot open \(path): \(BusError.errnoText(result))", reconnect: true)
        }
        fd = result
    }

    deinit { close() }

    /// Closes the device (`deinit` does too); closing it again does nothing.
    public func close() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }

    /// Waits up to `timeoutMillis` for bytes and appends what is there (at most `max`) to `buffer`;
    /// returns how many were read (0 on timeout). Throws `io` (reconnect) when the device went away.
    @discardableResult
    public func read(into buffer: inout [UInt8], max: Int = 4096, timeoutMillis: Int) throws(BusError) -> Int {
        let ready = tb_wait_readable(fd, Int32(clamping: timeoutMillis))
        if ready == 0 { return 0 }
        if ready < 0 { throw BusError(.io, "\(path): \(ready == -EPIPE ? "hung up" : BusError.errnoText(ready))", reconnect: true) }
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: max))
        let n = buffer.withUnsafeMutableBytes { raw in Glibc.read(fd, raw.baseAddress! + start, max) }
        let code = errno
        buffer.removeLast(max - Swift.max(0, n))
        if n > 0 { return n }
        if n < 0 && (code == EAGAIN || code == EINTR) { return 0 }
        // A readable descriptor that gives no bytes: end of file (the other end closed).
        throw BusError(.io, "\(path): \(n == 0 ? "end of file" : BusError.errnoText(-code))", reconnect: true)
    }

    /// Writes every byte (waiting for room as needed).
    public func write(_ bytes: [UInt8]) throws(BusError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in Glibc.write(fd, raw.baseAddress! + offset, bytes.count - offset) }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN {
                    usleep(1000)
                    continue
                }
                throw BusError(.io, "\(path): write failed: \(BusError.errnoText(-code))", reconnect: true)
            }
            offset += n
        }
    }

    /// Discards received, unread bytes (a late answer to an earlier request).
    public func flushInput() {
        _ = tb_serial_flush_input(fd)
    }
}
