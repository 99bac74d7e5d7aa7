#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Whole lines to stderr for the log handlers: one `write(2)` loop at a time (so lines from
/// several threads never interleave, whatever their length), retried on EINTR and after short
/// writes; any other failure (a closed pipe, a full disk) drops the line rather than stopping
/// the daemon.
public enum StandardError {
    private static let lock = Mutex(())

    /// Writes `text` to file descriptor 2.
    public static func write(_ text: String) {
        let bytes = Array(text.utf8)
        lock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress! + offset, $0.count - offset) }
                if n > 0 {
                    offset += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}
