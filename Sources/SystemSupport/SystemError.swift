#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: what was attempted, on what, and `errno` with its text.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The call that failed, such as `connect` or `fsync`.
    public let operation: String
    /// The path it was called on, if any.
    public let path: String?
    /// The `errno` it failed with.
    public let errno: Int32

    /// An error of `operation` on `path` with `errno`.
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

    /// `operation path: strerror text (errno N)`.
    public var description: String {
        "\(operation)\(path.map { " \($0)" } ?? ""): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
