#define _DEFAULT_SOURCE
#include "CDeviceBus.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <linux/spi/spidev.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static speed_t speed_of(uint32_t baud) {
    switch (baud) {
    case 1200: return B1200;
    case 2400: return B2400;
    case 4800: return B4800;
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    case 460800: return B460800;
    case 500000: return B500000;
    case 921600: return B921600;
    case 1000000: return B1000000;
    case 2000000: return B2000000;
    default: return 0;
    }
}

int tb_serial_baud_supported(uint32_t baud) { return speed_of(baud) != 0; }

int tb_serial_open(const char *path, uint32_t baud, int data_bits, char parity, int stop_bits) {
    speed_t speed = speed_of(baud);
    if (speed == 0 || data_bits < 5 || data_bits > 8 || (stop_bits != 1 && stop_bits != 2)) return -EINVAL;
    if (parity != 'N' && parity != 'E' && parity != 'O') return -EINVAL;
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct termios tio;
    if (tcgetattr(fd, &tio) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    cfmakeraw(&tio);
    cfsetispeed(&tio, speed);
    cfsetospeed(&tio, speed);
    tio.c_cflag &= ~(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cflag |= data_bits == 5 ? CS5 : data_bits == 6 ? CS6 : data_bits == 7 ? CS7 : CS8;
    if (parity != 'N') tio.c_cflag |= PARENB | (parity == 'O' ? PARODD : 0);
    if (stop_bits == 2) tio.c_cflag |= CSTOPB;
    tio.c_iflag &= ~(IXON | IXOFF | IXANY);
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    if (tcsetattr(fd, TCSANOW, &tio) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    tcflush(fd, TCIOFLUSH);
    return fd;
}

int tb_serial_flush_input(int fd) { return tcflush(fd, TCIFLUSH) == 0 ? 0 : -errno; }

int tb_wait_readable(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n;
    do { n = poll(&p, 1, timeout_ms); } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    if (n == 0) return 0;
    if (p.revents & POLLIN) return 1;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) return -EPIPE;
    return 0;
}

int tb_i2c_transfer(int fd, uint16_t address, const uint8_t *wbuf, uint16_t wlen, uint8_t *rbuf, uint16_t rlen) {
    struct i2c_msg messages[2];
    int count = 0;
    if (wlen > 0) {
        messages[count++] = (struct i2c_msg){.addr = address, .flags = 0, .len = wlen, .buf = (uint8_t *)wbuf};
    }
    if (rlen > 0) {
        messages[count++] = (struct i2c_msg){.addr = address, .flags = I2C_M_RD, .len = rlen, .buf = rbuf};
    }
    if (count == 0) return 0;
    struct i2c_rdwr_ioctl_data data = {.msgs = messages, .nmsgs = (uint32_t)count};
    return ioctl(fd, I2C_RDWR, &data) < 0 ? -errno : 0;
}

int tb_spi_configure(int fd, uint8_t mode, uint8_t bits_per_word, uint32_t speed_hz) {
    uint8_t m = mode & 3;
    if (ioctl(fd, SPI_IOC_WR_MODE, &m) < 0) return -errno;
    if (ioctl(fd, SPI_IOC_WR_BITS_PER_WORD, &bits_per_word) < 0) return -errno;
    if (ioctl(fd, SPI_IOC_WR_MAX_SPEED_HZ, &speed_hz) < 0) return -errno;
    return 0;
}

int tb_spi_transfer(int fd, const uint8_t *tx, uint8_t *rx, uint32_t len, uint32_t speed_hz) {
    struct spi_ioc_transfer transfer;
    memset(&transfer, 0, sizeof transfer);
    transfer.tx_buf = (uint64_t)(uintptr_t)tx;
    transfer.rx_buf = (uint64_t)(uintptr_t)rx;
    transfer.len = len;
    transfer.speed_hz = speed_hz;
    transfer.bits_per_word = 8;
    return ioctl(fd, SPI_IOC_MESSAGE(1), &transfer) < 0 ? -errno : 0;
}
