#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: what was attempted, on what, and `errno` with its text.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    public let operation: String
    public let path: String?
    public let errno: Int32

    public init(_ operation: String, path: String? = nil, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    /// The error of the call that just failed (reads `errno`).
    public static func last(_ operation: String, path: String? = nil) -> SystemError {
        SystemError(operation, path: path, errno: Glibc.errno)
    }

    /// Permission denied (`EACCES`, `EPERM`).
    public var isPermissionDenied: Bool { errno == EACCES || errno == EPERM }

    public var description: String {
        "\(operation)\(path.map { " \($0)" } ?? ""): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
