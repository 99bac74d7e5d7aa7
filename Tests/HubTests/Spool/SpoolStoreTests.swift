import Foundation
import Hub
import TelemetryCore
import Testing

@Suite("Spool store")
struct SpoolStoreTests {
    func directory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString)").path
        return path
    }

    func payload(_ i: Int, size: Int = 100) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ i) } }

    @Test("records come back in order across segments and restarts; consumed ones do not")
    func orderAndRestart() throws {
        let dir = directory()
        do {
            let store = try SpoolStore(directory: dir, segmentBytes: 1000, maxBytes: 1 << 20, fsync: false)
            try store.append((0..<30).map { payload($0) })
            #expect(store.count == 30)
            #expect(try store.peek(max: 3) == [payload(0), payload(1), payload(2)])
            try store.consume(12)
            #expect(try store.peek(max: 1) == [payload(12)])
        }
        let reopened = try SpoolStore(directory: dir, segmentBytes: 1000, maxBytes: 1 << 20, fsync: false)
        #expect(reopened.count == 18)
        #expect(reopened.recovery.badRanges == 0)
        #expect(try reopened.peek(max: 18) == (12..<30).map { payload($0) })
        try reopened.consume(18)
        #expect(reopened.isEmpty)
        #expect(reopened.bytes == 0)
        try reopened.append([payload(99)])
        let again = try SpoolStore(directory: dir, segmentBytes: 1000, maxBytes: 1 << 20, fsync: false)
        #expect(try again.peek(max: 5) == [payload(99)])
    }

    @Test("a spool drained, reopened, written and reopened again keeps its records (issue 14.1)")
    func drainRestartAppendRestart() throws {
        let dir = directory()
        do {
            // Outage, then the replay drains everything: the head now names segment 2.
            let store = try SpoolStore(directory: dir, segmentBytes: 1000, maxBytes: 1 << 20, fsync: false)
            try store.append((0..<3).map { payload($0) })
            try store.consume(3)
        }
        do {
            // Restart with an empty directory, then a second outage spools (an HTTP 202).
            let store = try SpoolStore(directory: dir, segmentBytes: 1000, maxBytes: 1 << 20, fsync: false)
            try store.append([payload(7), payload(8)], durable: true)
        }
        // A second restart before Redis returns must find both records.
        let store = try SpoolStore(directory: dir, segmentBytes: 1000, maxBytes: 1 << 20, fsync: false)
        #expect(store.count == 2)
        #expect(try store.peek(max: 5) == [payload(7), payload(8)])
    }

    @Test("random append, consume, reopen and crash sequences match a simple queue", arguments: 0..<24)
    func modelBased(seed: Int) throws {
        var random = SplitMix64(seed: UInt64(seed))
        let dir = directory()
        let segmentBytes = [200, 1000, 4096][seed % 3]
        func open() throws -> SpoolStore { try SpoolStore(directory: dir, segmentBytes: segmentBytes, maxBytes: 1 << 30, fsync: seed % 2 == 0) }
        var store = try open()
        var model: [[UInt8]] = []  // the reference: an in-memory FIFO
        var next = 0
        var leaked: [Unmanaged<SpoolStore>] = []
        defer { leaked.forEach { $0.release() } }
        for step in 0..<300 {
            switch random.next() % 10 {
            case 0...3:
                let payloads = (0..<Int(1 + random.next() % 5)).map { _ -> [UInt8] in
                    defer { next += 1 }
                    return payload(next, size: Int(1 + random.next() % 300))
                }
                try store.append(payloads, durable: random.next() % 2 == 0)
                model += payloads
            case 4...6:
                let n = model.isEmpty ? 0 : Int(random.next() % UInt64(model.count + 1))
                try store.consume(n)
                model.removeFirst(n)
            case 7:
                store = try open()  // a clean restart
            case 8:
                // A crash: the old instance is never closed (its descriptors stay open, as in a
                // killed process before the kernel reaps it) and a new one recovers the directory.
                leaked.append(Unmanaged.passRetained(store))
                store = try open()
            default:
                #expect(try store.peek(max: 3) == Array(model.prefix(3)), "seed \(seed) step \(step)")
            }
            #expect(store.count == model.count, "seed \(seed) step \(step)")
            #expect(store.recovery.badRanges == 0, "seed \(seed) step \(step)")
        }
        store = try open()
        #expect(try store.peek(max: model.count + 1) == model, "seed \(seed) at the end")
    }

    @Test("the cap is explicit: no room, nothing written")
    func cap() throws {
        let store = try SpoolStore(directory: directory(), segmentBytes: 4096, maxBytes: 500, fsync: false)
        #expect(store.hasRoom(for: [payload(0), payload(1), payload(2)]))
        try store.append([payload(0), payload(1), payload(2), payload(3)])
        #expect(!store.hasRoom(for: [payload(4)]))
    }

    @Test("a record with a flipped byte and a truncated tail are quarantined; every good record survives")
    func corruption() throws {
        let dir = directory()
        do {
            let store = try SpoolStore(directory: dir, segmentBytes: 1 << 20, maxBytes: 1 << 20, fsync: false)
            try store.append((0..<10).map { payload($0) })
        }
        let segment = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".spool") })
        let path = "\(dir)/\(segment)"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let record = 112  // 12-byte header + 100-byte payload
        bytes[3 * record + 50] ^= 0xFF           // payload of record 3
        bytes[6 * record + 1] ^= 0x01            // magic of record 6
        bytes.removeLast(40)                      // record 9 cut in the middle
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let store = try SpoolStore(directory: dir, segmentBytes: 1 << 20, maxBytes: 1 << 20, fsync: false)
        #expect(store.recovery.records == 7)
        #expect(store.recovery.badRanges == 3)
        #expect(try store.peek(max: 10) == [0, 1, 2, 4, 5, 7, 8].map { payload($0) })
        let quarantined = try FileManager.default.contentsOfDirectory(atPath: store.quarantineDirectory)
        #expect(quarantined.count == 3)
        // Recovery rewrote the segment: a second start finds nothing wrong.
        let again = try SpoolStore(directory: dir, segmentBytes: 1 << 20, maxBytes: 1 << 20, fsync: false)
        #expect(again.recovery.records == 7 && again.recovery.badRanges == 0 && again.recovery.quarantinedBytes == 0)
    }
}
