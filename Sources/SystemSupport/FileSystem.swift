#if canImport(Glibc)
import Glibc
#endif

/// What `lstat` says of a path (a symlink is described, not followed).
public struct FileStatus: Sendable, Equatable {
    /// The file type: a regular file, a directory, a symlink, a socket, or anything else.
    public enum Kind: Sendable, Equatable { case file, directory, symlink, socket, other }
    /// The file type.
    public let kind: Kind
    /// Permission bits, with set-uid, set-gid and sticky (`st_mode & 0o7777`).
    public let permissions: UInt32
    /// The owner's user id.
    public let owner: UInt32
    /// The group id.
    public let group: UInt32

    /// The status of `path` itself, or nil when it does not exist or cannot be read.
    public static func of(_ path: String) -> FileStatus? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return FileStatus(info)
    }

    /// The status of `path` itself; throws when it cannot be read.
    public static func existing(_ path: String) throws(SystemError) -> FileStatus {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw SystemError.last("lstat", path: path) }
        return FileStatus(info)
    }

    init(_ info: stat) {
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = .file
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        case S_IFSOCK: kind = .socket
        default: kind = .other
        }
        permissions = UInt32(info.st_mode & 0o7777)
        owner = info.st_uid
        group = info.st_gid
    }
}

/// The file-system calls swift-system's `FileDescriptor` does not have.
public enum FileSystem {
    /// This process's effective user id.
    public static var effectiveUserID: UInt32 { geteuid() }

    /// Flushes `descriptor`'s data and metadata to disk.
    public static func sync(descriptor: Int32, path: String? = nil) throws(SystemError) {
        guard fsync(descriptor) == 0 else { throw SystemError.last("fsync", path: path) }
    }

    /// Reads up to `count` bytes of `descriptor` from `offset` without moving its file position
    /// (`pread`, repeated over short reads and `EINTR`); fewer bytes only at the end of the file.
    public static func read(descriptor: Int32, count: Int, atOffset offset: Int64, path: String? = nil) throws(SystemError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = bytes.withUnsafeMutableBytes { raw in
                pread(descriptor, raw.baseAddress! + filled, count - filled, off_t(offset) + off_t(filled))
            }
            if n > 0 { filled += n; continue }
            if n == 0 { break }
            if errno == EINTR { continue }
            throw SystemError.last("pread", path: path)
        }
        bytes.removeLast(count - filled)
        return bytes
    }

    /// Flushes a directory's entries (a created, renamed or removed file) to disk.
    public static func syncDirectory(_ path: String) throws(SystemError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError.last("open", path: path) }
        defer { close(fd) }
        try sync(descriptor: fd, path: path)
    }

    /// Replaces `destination` with `source` atomically (`rename`).
    public static func rename(_ source: String, to destination: String) throws(SystemError) {
        guard Glibc.rename(source, destination) == 0 else { throw SystemError.last("rename", path: source) }
    }

    /// Removes the file `path`; a file already gone is no error.
    public static func remove(_ path: String) throws(SystemError) {
        guard unlink(path) == 0 || Glibc.errno == ENOENT else { throw SystemError.last("unlink", path: path) }
    }

    /// Cuts the file `path` to `length` bytes.
    public static func truncate(_ path: String, to length: Int) throws(SystemError) {
        guard Glibc.truncate(path, off_t(length)) == 0 else { throw SystemError.last("truncate", path: path) }
    }

    /// Sets the permission bits of `path` (following no symlink: check with ``FileStatus`` first).
    public static func setPermissions(_ path: String, _ mode: UInt32) throws(SystemError) {
        guard chmod(path, mode_t(mode)) == 0 else { throw SystemError.last("chmod", path: path) }
    }

    /// Gives `path` itself (not a symlink's target) to `group`, keeping its owner.
    public static func setGroup(_ path: String, _ group: UInt32) throws(SystemError) {
        guard lchown(path, uid_t.max, gid_t(group)) == 0 else { throw SystemError.last("lchown", path: path) }
    }

    /// The id of the group named `name`, or nil when there is none.
    public static func groupID(named name: String) -> UInt32? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }
}
