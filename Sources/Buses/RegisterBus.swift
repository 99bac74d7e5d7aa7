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
    mutating func transfer(address: UInt8, write: [UInt8], readCount: Int) throws(BusError) -> [UInt8]
}

/// One full-duplex SPI transfer with chip select held for all of it.
public protocol SPITransport {
    mutating func transfer(_ tx: [UInt8]) throws(BusError) -> [UInt8]
}

/// Registers over I2C the usual way: write the register address, read with a repeated start.
public struct I2CRegisterBus<Transport: I2CTransport>: RegisterBus {
    public var transport: Transport
    public let address: UInt8

    public init(transport: Transport, address: UInt8) {
        self.transport = transport
        self.address = address
    }

    public mutating func read(register: UInt8, count: Int) throws(BusError) -> [UInt8] {
        try transport.transfer(address: address, write: [register], readCount: count)
    }

    public mutating func write(register: UInt8, value: UInt8) throws(BusError) {
        _ = try transport.transfer(address: address, write: [register, value], readCount: 0)
    }
}

/// Registers over SPI with the Bosch convention: bit 7 of the first byte set for a read (the
/// data follows, auto-incremented), cleared for a write of the byte after it.
public struct SPIRegisterBus<Transport: SPITransport>: RegisterBus {
    public var transport: Transport

    public init(transport: Transport) {
        self.transport = transport
    }

    public mutating func read(register: UInt8, count: Int) throws(BusError) -> [UInt8] {
        let rx = try transport.transfer([register | 0x80] + [UInt8](repeating: 0, count: count))
        guard rx.count == count + 1 else { throw BusError(.frame, "SPI transfer returned \(rx.count) bytes, expected \(count + 1)") }
        return Array(rx.dropFirst())
    }

    public mutating func write(register: UInt8, value: UInt8) throws(BusError) {
        _ = try transport.transfer([register & 0x7F, value])
    }
}

/// `/dev/i2c-N` (i2c-dev), combined transactions with `I2C_RDWR`.
public final class LinuxI2C: I2CTransport {
    public let path: String
    private var fd: Int32

    public init(path: String) throws(BusError) {
        self.path = path
        fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw BusError(.open, "cannot open \(path): \(BusError.errnoText(-errno))", reconnect: true) }
    }

    deinit { if fd >= 0 { close(fd) } }

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
    public let path: String
    public let speedHz: UInt32
    private var fd: Int32

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

    public init(_ base: some RegisterBus) {
        self.base = base
    }

    public mutating func read(register: UInt8, count: Int) throws(BusError) -> [UInt8] {
        try base.read(register: register, count: count)
    }

    public mutating func write(register: UInt8, value: UInt8) throws(BusError) {
        try base.write(register: register, value: value)
    }
}
