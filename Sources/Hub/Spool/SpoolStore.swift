import DequeModule
import Foundation
import SystemPackage
import SystemSupport
import TelemetryCore

/// An error of the on-disk spool.
package struct SpoolError: Error, Sendable, CustomStringConvertible {
    package let message: String
    package init(_ message: String) { self.message = message }
    package var description: String { "spool: \(message)" }
}

/// The hub's on-disk spool: append-only segment files of checksummed records, read in order
/// from a persisted head position. Synchronous file I/O: owned by ``Spool``, which runs it on a
/// thread of its own.
///
/// A record is `magic "TSR1" | length u32 | crc32 u32 | payload` (little endian). At start every
/// segment is scanned; a record whose header or checksum is wrong, or a truncated tail, is copied
/// to `quarantine/` and the segment rewritten with its good records only, so a damaged spool
/// never stops the hub.
package final class SpoolStore {
    struct Location {
        var segment: UInt64
        var offset: Int
        var length: Int
    }

    /// What recovery found at start.
    package struct Recovery: Sendable, Equatable {
        package var records = 0
        package var badRanges = 0
        package var quarantinedBytes = 0
    }

    static let headerSize = SpoolRecord.headerSize

    package let directory: String
    package let segmentBytes: Int
    package let maxBytes: Int
    package let fsync: Bool
    package private(set) var recovery = Recovery()
    private var records: Deque<Location> = []
    /// A segment was created since the directory was last fsync'd.
    private var directoryUnsynced = false
    private var segmentSizes: [UInt64: Int] = [:]
    private var tailSegment: UInt64 = 0
    private var tailDescriptor: FileDescriptor?
    private var readDescriptors: [UInt64: FileDescriptor] = [:]

    /// Opens (creating if needed) the spool in `directory` and recovers its records.
    package init(directory: String, segmentBytes: Int = 64 << 20, maxBytes: Int = 1 << 30, fsync: Bool = true) throws(SpoolError) {
        self.directory = directory
        self.segmentBytes = segmentBytes
        self.maxBytes = maxBytes
        self.fsync = fsync
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: quarantineDirectory, withIntermediateDirectories: true)
        } catch {
            throw SpoolError("cannot create \(directory): \(error)")
        }
        try recover()
    }

    deinit {
        try? tailDescriptor?.close()
        for fd in readDescriptors.values { try? fd.close() }
    }

    /// Records waiting to be published.
    package var count: Int { records.count }
    package var isEmpty: Bool { records.isEmpty }
    /// Bytes of segment files on disk.
    package var bytes: Int { segmentSizes.values.reduce(0, +) }
    package var quarantineDirectory: String { directory + "/quarantine" }

    /// Whether `payloads` fit under ``maxBytes``.
    package func hasRoom(for payloads: [[UInt8]]) -> Bool {
        bytes + payloads.reduce(0) { $0 + $1.count + Self.headerSize } <= maxBytes
    }

    /// Appends records at the tail and fsyncs once, when configured or when the caller needs them
    /// `durable` whatever the configuration (records acknowledged to an HTTP client).
    ///
    /// All or nothing: when a write or fsync fails (a full disk), the records of this call are
    /// taken back and the segments cut back to their previous length, so a later append lands
    /// where the index says and the caller can retry the same records.
    package func append(_ payloads: [[UInt8]], durable: Bool = false) throws(SpoolError) {
        let sync = fsync || durable
        let recordsBefore = records.count
        var sizesBefore: [UInt64: Int] = [tailSegment: segmentSizes[tailSegment, default: 0]]
        do throws(SpoolError) {
            for payload in payloads {
                if tailDescriptor == nil || segmentSizes[tailSegment, default: 0] >= segmentBytes {
                    try rotate(syncingPrevious: sync)
                    sizesBefore[tailSegment] = 0
                }
                let record = SpoolRecord.frame(payload)
                let offset = segmentSizes[tailSegment, default: 0]
                try writeAll(tailDescriptor!, record)
                segmentSizes[tailSegment] = offset + record.count
                records.append(Location(segment: tailSegment, offset: offset, length: payload.count))
            }
            guard sync, tailDescriptor != nil else { return }
            try syncTail()
            if directoryUnsynced { syncDirectory(force: true) }
        } catch {
            records.removeLast(records.count - recordsBefore)
            for (segment, size) in sizesBefore where segmentSizes[segment] != nil {
                try? FileSystem.truncate(path(segment), to: size)
                segmentSizes[segment] = size
            }
            throw error
        }
    }

    /// The first `max` records, oldest first, without removing them.
    package func peek(max: Int) throws(SpoolError) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for location in records.prefix(max) {
            let fd = try readDescriptor(location.segment)
            let buffer: [UInt8]
            do {
                buffer = try FileSystem.read(descriptor: fd.rawValue, count: location.length, atOffset: Int64(location.offset + Self.headerSize))
            } catch {
                throw SpoolError("cannot read segment \(location.segment): \(error)")
            }
            guard buffer.count == location.length else { throw SpoolError("short read in segment \(location.segment)") }
            out.append(buffer)
        }
        return out
    }

    /// Removes the first `count` records (published or dropped), deletes segments left empty and
    /// persists the head position.
    package func consume(_ count: Int) throws(SpoolError) {
        guard count > 0 else { return }
        records.removeFirst(Swift.min(count, records.count))
        let head = records.first
        for segment in segmentSizes.keys.sorted() where segment < (head?.segment ?? tailSegment + 1) {
            if segment == tailSegment && head == nil {
                // Everything is consumed: start the next append on a fresh segment.
                try? tailDescriptor?.close()
                tailDescriptor = nil
            }
            if let fd = readDescriptors.removeValue(forKey: segment) { try? fd.close() }
            try? FileSystem.remove(path(segment))
            segmentSizes.removeValue(forKey: segment)
        }
        try writeHead(segment: head?.segment ?? tailSegment + 1, offset: head?.offset ?? 0)
    }

    // MARK: - Recovery

    private func recover() throws(SpoolError) {
        let (headSegment, headOffset) = readHead()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let segments = names.compactMap(SpoolLayout.segmentNumber(fileName:)).sorted()
        for segment in segments {
            if segment < headSegment {
                try? FileSystem.remove(path(segment))
                continue
            }
            guard let data = FileManager.default.contents(atPath: path(segment)) else { continue }
            let bytes = [UInt8](data)
            let scanned = SpoolRecord.scan(bytes, from: segment == headSegment ? min(headOffset, bytes.count) : 0)
            var good = scanned.records.map { Location(segment: segment, offset: $0.offset, length: $0.length) }
            for range in scanned.damaged {
                // Everything between two valid records is quarantined.
                quarantine(Array(bytes[range]), segment: segment, offset: range.lowerBound)
            }
            let damaged = !scanned.damaged.isEmpty
            if damaged {
                // Rewrite the segment with its good records only.
                var rewritten: [UInt8] = []
                var relocated: [Location] = []
                for location in good {
                    relocated.append(Location(segment: segment, offset: rewritten.count, length: location.length))
                    rewritten += bytes[location.offset..<(location.offset + Self.headerSize + location.length)]
                }
                let temporary = path(segment) + ".tmp"
                guard FileManager.default.createFile(atPath: temporary, contents: Data(rewritten)),
                      (try? FileSystem.rename(temporary, to: path(segment))) != nil else {
                    throw SpoolError("cannot rewrite damaged segment \(segment)")
                }
                good = relocated
                segmentSizes[segment] = rewritten.count
            } else {
                segmentSizes[segment] = bytes.count
            }
            records.append(contentsOf: good)
            recovery.records += good.count
            tailSegment = max(tailSegment, segment)
        }
        // Segment numbers only grow, across restarts too: the next segment must come after the
        // head even when a full drain deleted every file (a number below the head would be taken
        // for an already consumed segment and deleted by the next recovery).
        tailSegment = max(tailSegment, headSegment)
        if let first = records.first { try writeHead(segment: first.segment, offset: first.offset) }
    }

    private func quarantine(_ bytes: [UInt8], segment: UInt64, offset: Int) {
        recovery.badRanges += 1
        recovery.quarantinedBytes += bytes.count
        _ = FileManager.default.createFile(atPath: "\(quarantineDirectory)/segment-\(segment)-at-\(offset).bad", contents: Data(bytes))
    }

    // MARK: - Files

    private func path(_ segment: UInt64) -> String {
        "\(directory)/\(SpoolLayout.segmentFileName(segment))"
    }

    private func syncTail() throws(SpoolError) {
        guard let tailDescriptor else { return }
        do { try FileSystem.sync(descriptor: tailDescriptor.rawValue, path: path(tailSegment)) } catch { throw SpoolError("\(error)") }
    }

    /// Starts a new tail segment. With `syncingPrevious`, the segment being closed is fsync'd
    /// first: its last records belong to the same durable append as the new segment's first.
    private func rotate(syncingPrevious: Bool = false) throws(SpoolError) {
        if let previous = tailDescriptor {
            if syncingPrevious { try syncTail() }
            try? previous.close()
            tailDescriptor = nil
        }
        tailSegment += 1
        do {
            tailDescriptor = try FileDescriptor.open(FilePath(path(tailSegment)), .writeOnly, options: [.create, .append, .closeOnExec],
                                                     permissions: [.ownerReadWrite])
        } catch {
            throw SpoolError("cannot create segment \(tailSegment): \(error)")
        }
        segmentSizes[tailSegment] = 0
        syncDirectory()
    }

    private func readDescriptor(_ segment: UInt64) throws(SpoolError) -> FileDescriptor {
        if let fd = readDescriptors[segment] { return fd }
        do {
            let fd = try FileDescriptor.open(FilePath(path(segment)), .readOnly, options: [.closeOnExec])
            readDescriptors[segment] = fd
            return fd
        } catch {
            throw SpoolError("cannot open segment \(segment): \(error)")
        }
    }

    private func writeAll(_ fd: FileDescriptor, _ bytes: [UInt8]) throws(SpoolError) {
        do { _ = try fd.writeAll(bytes) } catch { throw SpoolError("write failed: \(error)") }
    }

    private var headPath: String { directory + "/" + SpoolLayout.headFileName }

    private func readHead() -> (UInt64, Int) {
        guard let text = try? String(contentsOfFile: headPath, encoding: .utf8), let head = SpoolLayout.parseHead(text) else { return (0, 0) }
        return (head.segment, head.offset)
    }

    /// Persists the head position atomically (write, fsync, rename).
    private func writeHead(segment: UInt64, offset: Int) throws(SpoolError) {
        let temporary = headPath + ".tmp"
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(temporary), .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite])
        } catch {
            throw SpoolError("cannot write the head index: \(error)")
        }
        do throws(SpoolError) {
            try writeAll(fd, Array("\(segment) \(offset)\n".utf8))
            if fsync { try? FileSystem.sync(descriptor: fd.rawValue, path: temporary) }
        } catch {
            try? fd.close()
            throw error
        }
        try? fd.close()
        do { try FileSystem.rename(temporary, to: headPath) } catch { throw SpoolError("cannot replace the head index: \(error)") }
    }

    /// Makes new segment files durable; without `fsync` only when a durable append asks for it.
    private func syncDirectory(force: Bool = false) {
        guard fsync || force else {
            directoryUnsynced = true
            return
        }
        try? FileSystem.syncDirectory(directory)
        directoryUnsynced = false
    }
}
