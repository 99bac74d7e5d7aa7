#if canImport(Glibc)
import Glibc
#endif

/// A blocking client of a Unix stream socket (the CLI runs no event loop), and the check whether
/// something serves a socket path.
public struct UnixSocket: ~Copyable {
    private let fd: Int32
    /// The socket path it is connected to.
    public let path: String

    /// Connects to `path`, with send and receive timeouts of `timeoutSeconds`.
    public init(connectingTo path: String, timeoutSeconds: Int = 5) throws(SystemError) {
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemError.last("socket", path: path) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard var address = Self.address(path) else {
            close(fd)
            throw SystemError("connect", path: path, errno: ENAMETOOLONG)
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let error = SystemError.last("connect", path: path)
            close(fd)
            throw error
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Writes all of `bytes`.
    public func send(_ bytes: [UInt8]) throws(SystemError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && Glibc.errno == EINTR { continue }
            guard n > 0 else { throw SystemError.last("send", path: path) }
            sent += n
        }
    }

    /// Reads until the peer closes the connection; throws `EMSGSIZE` when the peer sends more
    /// than `limit` bytes (nothing is cut silently).
    public func receiveAll(limit: Int = 64 << 20) throws(SystemError) -> [UInt8] {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while received.count <= limit {
            // One byte past the limit at most, to tell "exactly limit" from "more" (no `limit + 1`,
            // which would overflow for Int.max).
            let remaining = limit - received.count
            let wanted = remaining == 0 ? 1 : min(chunk.count, remaining)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, wanted) }
            if n == 0 { return received }
            if n < 0 && Glibc.errno == EINTR { continue }
            guard n > 0 else { throw SystemError.last("read", path: path) }
            received += chunk[0..<n]
        }
        throw SystemError("read", path: path, errno: EMSGSIZE)
    }

    /// True when `path` is a socket something accepts connections on.
    public static func isServed(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else { return false }
        return (try? UnixSocket(connectingTo: path, timeoutSeconds: 1)) != nil
    }

    /// The `sockaddr_un` of `path`; nil when the path does not fit.
    static func address(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }
}

/// TCP on loopback, for tools that need a port nobody uses.
public enum LoopbackPort {
    /// A port the kernel reports free on 127.0.0.1 (free when asked; bind it soon).
    public static func free() throws(SystemError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemError.last("socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw SystemError.last("bind") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw SystemError.last("getsockname") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
