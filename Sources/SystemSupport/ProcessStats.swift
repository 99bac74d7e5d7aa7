#if canImport(Glibc)
import Glibc
#endif

/// This process's resource use as Linux reports it in `/proc/self`, for the standard
/// Prometheus `process_*` metrics.
public struct ProcessStats: Sendable, Equatable {
    /// User plus system CPU time, in seconds.
    public var cpuSeconds: Double
    /// Resident set size, in bytes.
    public var residentBytes: Int
    /// Virtual memory size, in bytes.
    public var virtualBytes: Int
    /// Open file descriptors; nil when they cannot be counted (`opendir` fails with EMFILE
    /// exactly when they run out, so a 0 there would hide the problem).
    public var openFileDescriptors: Int?
    /// The soft limit on open file descriptors (`RLIMIT_NOFILE`, systemd's `LimitNOFILE=`); nil
    /// when unlimited.
    public var maxFileDescriptors: Int?

    /// The figures now; nil when `/proc/self` cannot be read (not Linux, or no procfs mounted).
    public static func current() -> ProcessStats? {
        guard let stat = read("/proc/self/stat"), let statm = read("/proc/self/statm") else { return nil }
        // The command name (field 2) is in parentheses and may hold spaces: fields count from
        // the last ')'. utime and stime are fields 14 and 15, in clock ticks.
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        let pages = statm.split(separator: UInt8(ascii: " "))
        guard fields.count > 13, pages.count > 1,
              let utime = Int(String(decoding: fields[11], as: UTF8.self)), let stime = Int(String(decoding: fields[12], as: UTF8.self)),
              let virtualPages = Int(String(decoding: pages[0], as: UTF8.self)), let residentPages = Int(String(decoding: pages[1], as: UTF8.self))
        else { return nil }
        let ticks = max(1, sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = max(1, sysconf(Int32(_SC_PAGESIZE)))
        var limit = rlimit()
        let hasLimit = getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 && limit.rlim_cur != rlim_t.max
        return ProcessStats(
            cpuSeconds: Double(utime + stime) / Double(ticks),
            residentBytes: residentPages * pageSize,
            virtualBytes: virtualPages * pageSize,
            openFileDescriptors: openDescriptors(),
            maxFileDescriptors: hasLimit ? Int(clamping: limit.rlim_cur) : nil)
    }

    /// `RLIMIT_NOFILE` as getrlimit takes it (an enum in Glibc's Swift import).
    private static var RLIMIT_NOFILE_VALUE: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }

    /// Entries of `/proc/self/fd`, less the one the count itself holds open.
    private static func openDescriptors() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [UInt8(ascii: ".")] && name != [UInt8(ascii: "."), UInt8(ascii: ".")] { count += 1 }
        }
        return max(0, count - 1)
    }

    /// A small procfs file's bytes (procfs reports a size of 0, so read until the end).
    private static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return n == 0 ? bytes : nil }
            bytes += chunk[0..<n]
        }
    }
}
