import CDeviceBus
#if canImport(Glibc)
import Glibc
#endif

/// Byte-register access to one chip, whatever the bus: what a chip driver (``BME280``) is written
/// against, so it runs the same over I2C, over SPI and against an emulated register map.
public protocol RegisterBus {
    /// Reads `count` consecutive registers from `register` (auto-increment).
    mutating func read(register: UInt8, count: Int) throws(BusError) -> [UInt8]
    /// Writes one register.
    mutating func write(register: UInt8, value: UInt8) throws(BusError)
}

/// One I2C transaction: write, then (repeated start) read, to a 7-bit address.
public protocol I2CTransport {
    /// Writes `write` (if any), then reads `readCount` bytes (if any) from the chip at `address`,
    /// in one transaction; returns the bytes read.
    mutating func transfer(address: UInt8, write: [UInt8], readCount: Int) throws(BusError) -> [UInt8]
}

/// One full-duplex SPI transfer with chip select held for all of it.
public protocol SPITransport {
    /// Clocks out `tx` and returns the bytes clocked in meanwhile, as many as `tx` has.
    mutating func transfer(_ tx: [UInt8]) throws(BusError) -> [UInt8]
}

/// Registers over I2C the usual way: write the register address, read with a repeated start.
public struct I2CRegisterBus<Transport: I2CTransport>: RegisterBus {
    /// The I2C adapter (or emulated chip) the transactions go through.
    public var transport: Transport
    /// The chip's 7-bit I2C address.
    public let address: UInt8

    /// Registers of the chip at `address` on `transport`.
    public init(transport: Transport, address: UInt8) {
        self.transport = transport
        self.address = address
    }

    /// Writes `register`, then reads `count` bytes with a repeated start; throws what the transport throws.
    public mutating func read(register: UInt8, count: Int) throws(BusError) -> [UInt8] {
        try transport.transfer(address: address, write: [register], readCount: count)
    }

    /// Writes `value` to `register` in one transaction.
    public mutating func write(register: UInt8, value: UInt8) throws(BusError) {
        _ = try transport.transfer(address: address, write: [register, value], readCount: 0)
    }
}

/// Registers over SPI with the Bosch convention: bit 7 of the first byte set for a read (the
/// data follows, auto-incremented), cleared for a write of the byte after it.
public struct SPIRegisterBus<Transport: SPITransport>: RegisterBus {
    /// The SPI device the transfers go through.
    public var transport: Transport

    /// Registers of the chip on `transport`.
    public init(transport: Transport) {
        self.transport = transport
    }

    /// Reads `count` registers from `register` in one transfer; throws `frame` when the transport
    /// returns a wrong number of bytes, and what the transport throws.
    public mutating func read(register: UInt8, count: Int) throws(BusError) -> [UInt8] {
        let rx = try transport.transfer([register | 0x80] + [UInt8](repeating: 0, count: count))
        guard rx.count == count + 1 else { throw BusError(.frame, "SPI transfer returned \(rx.count) bytes, expected \(count + 1)") }
        return Array(rx.dropFirst())
    }

    /// Writes `value` to `register` in one transfer.
    public mutating func write(register: UInt8, value: UInt8) throws(BusError) {
        _ = try transport.transfer([register & 0x7F, value])
    }
}

/// `/dev/i2c-N` (i2c-dev), combined transactions with `I2C_RDWR`.
public final class LinuxI2C: I2CTransport {
    /// The device path, such as `/dev/i2c-1`.
    public let path: String
    private var fd: Int32

    /// Opens `path`; throws `open` (reconnect) when it cannot.
    public init(path: String) throws(BusError) {
        self.path = path
        fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw BusError(.open, "cannot open \(path): \(BusError.errnoText(-errno))", reconnect: true) }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Sends the write and the read (repeated start) as one `I2C_RDWR` transaction; either may be
    /// empty, and each is at most 65 535 bytes. Throws `io`, with `reconnect` on `ENODEV` and `EIO`.
    public func transfer(address: UInt8, write: [UInt8], readCount: Int) throws(BusError) -> [UInt8] {
        var rx = [UInt8](repeating: 0, count: readCount)
        let result = write.withUnsafeBufferPointer { w in
            rx.withUnsafeMutableBufferPointer { r in
                tb_i2c_transfer(fd, UInt16(address), w.baseAddress, UInt16(w.count), r.baseAddress, UInt16(r.count))
            }
        }
        guard result == 0 else {
            throw BusError(.io, "\(path) address 0x\(String(address, radix: 16)): \(BusError.errnoText(result))",
                           reconnect: result == -ENODEV || result == -EIO)
        }
        return rx
    }
}

/// `/dev/spidevB.C` (spidev): mode and speed set once, `SPI_IOC_MESSAGE(1)` per transfer.
public final class LinuxSPI: SPITransport {
    /// The device path, such as `/dev/spidev0.0`.
    public let path: String
    /// The clock rate of every transfer, in Hz.
    public let speedHz: UInt32
    private var fd: Int32

    /// Opens `path` and sets SPI `mode` (0…3: clock polarity and phase), 8-bit words and
    /// `speedHz`; throws `open` (reconnect) when the device cannot be opened or set up.
    public init(path: String, mode: UInt8, speedHz: UInt32) throws(BusError) {
        self.path = path
        self.speedHz = speedHz
        fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw BusError(.open, "cannot open \(path): \(BusError.errnoText(-errno))", reconnect: true) }
        let configured = tb_spi_configure(fd, mode, 8, speedHz)
        guard configured == 0 else {
            close(fd)
            fd = -1
            throw BusError(.open, "cannot configure \(path) (mode \(mode), \(speedHz) Hz): \(BusError.errnoText(configured))", reconnect: true)
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Clocks out `tx` with chip select held and returns the bytes clocked in meanwhile;
    /// throws `io` (reconnect) when the transfer fails.
    public func transfer(_ tx: [UInt8]) throws(BusError) -> [UInt8] {
        var rx = [UInt8](repeating: 0, count: tx.count)
        let result = tx.withUnsafeBufferPointer { t in
            rx.withUnsafeMutableBufferPointer { r in tb_spi_transfer(fd, t.baseAddress, r.baseAddress, UInt32(t.count), speedHz) }
        }
        guard result == 0 else { throw BusError(.io, "\(path): \(BusError.errnoText(result))", reconnect: true) }
        return rx
    }
}

/// Any ``RegisterBus``, so a driver can hold one whatever transport the configuration chose.
public struct AnyRegisterBus: RegisterBus {
    private var base: any RegisterBus

    /// Wraps `base`.
    public init(_ base: some RegisterBus) {
        self.base = base
    }

    /// Reads `count` registers from `register` of the wrapped bus.
    public mutating func read(register: UInt8, count: Int) throws(BusError) -> [UInt8] {
        try base.read(register: register, count: count)
    }

    /// Writes `value` to `register` of the wrapped bus.
    public mutating func write(register: UInt8, value: UInt8) throws(BusError) {
        try base.write(register: register, value: value)
    }
}
