// Thin wrappers over the Linux device interfaces the hub's buses use: termios for UARTs,
// i2c-dev ioctls for I2C, spidev ioctls for SPI. Their macros (SPI_IOC_MESSAGE(n), B115200, …)
// and variadic ioctl(2) do not import into Swift; everything else stays in Swift.
// Every function returns 0 (or a file descriptor) on success and -errno on failure.
#ifndef CDEVICEBUS_H
#define CDEVICEBUS_H

#include <stddef.h>
#include <stdint.h>

/// Opens a serial device raw (no echo, no line discipline, no modem control), non-blocking reads
/// (VMIN = VTIME = 0; wait with poll(2)), with the given line settings. parity: 'N', 'E' or 'O'.
/// Returns the descriptor, -EINVAL for an unsupported baud rate or setting, or -errno.
int tb_serial_open(const char *path, uint32_t baud, int data_bits, char parity, int stop_bits);

/// Whether `baud` is a rate termios can set.
int tb_serial_baud_supported(uint32_t baud);

/// Discards what the device received but nobody read.
int tb_serial_flush_input(int fd);

/// Waits until `fd` is readable or `timeout_ms` passes: 1 readable, 0 timeout, -EPIPE on hang-up
/// (the other end or the adapter went away), -errno on error.
int tb_wait_readable(int fd, int timeout_ms);

/// One combined I2C transaction (I2C_RDWR): write `wlen` bytes then, after a repeated start,
/// read `rlen` bytes from 7-bit address `address`. Either length may be 0.
int tb_i2c_transfer(int fd, uint16_t address, const uint8_t *wbuf, uint16_t wlen, uint8_t *rbuf, uint16_t rlen);

/// Sets SPI mode (0–3), bits per word and maximum speed in Hz.
int tb_spi_configure(int fd, uint8_t mode, uint8_t bits_per_word, uint32_t speed_hz);

/// One full-duplex SPI transfer of `len` bytes (SPI_IOC_MESSAGE(1)) with chip select held.
int tb_spi_transfer(int fd, const uint8_t *tx, uint8_t *rx, uint32_t len, uint32_t speed_hz);

#endif
