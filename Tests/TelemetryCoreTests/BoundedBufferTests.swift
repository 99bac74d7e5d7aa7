import TelemetryCore
import Testing

@Suite("BoundedBuffer")
struct BoundedBufferTests {
    @Test("drop_oldest keeps the newest and counts drops")
    func dropOldest() async {
        let buffer = BoundedBuffer<Int>(capacity: 3, policy: .dropOldest)
        for i in 0..<5 { await buffer.push(i) }
        #expect(buffer.droppedCount == 2)
        #expect(await buffer.next(max: 10) == [2, 3, 4])
    }

    @Test("block makes the producer wait until the consumer takes; nothing is lost")
    func block() async {
        let buffer = BoundedBuffer<Int>(capacity: 2, policy: .block)
        let producer = Task {
            for i in 0..<1000 { await buffer.push(i) }
            buffer.finish()
        }
        var received: [Int] = []
        while let group = await buffer.next(max: 7) {
            #expect(group.count <= 7)
            received += group
        }
        await producer.value
        #expect(received == Array(0..<1000))
        #expect(buffer.droppedCount == 0)
    }

    @Test("drop_oldest never drops a protected element: it drops the oldest unprotected one, or the newcomer")
    func protectedElements() async {
        let buffer = BoundedBuffer<Int>(capacity: 3, policy: .dropOldest, isProtected: { $0 >= 100 })
        #expect(buffer.tryPush(contentsOf: [100, 1]))
        #expect(!buffer.tryPush(contentsOf: [101, 102]))  // all or nothing
        await buffer.push(2)
        guard case .enqueuedDropping(let dropped) = await buffer.push(3) else { Issue.record("expected a drop"); return }
        #expect(dropped == 1)
        #expect(buffer.tryPush(contentsOf: []))
        #expect(await buffer.next(max: 10) == [100, 2, 3])
        #expect(buffer.tryPush(contentsOf: [100, 101, 102]))
        guard case .dropped = await buffer.push(4) else { Issue.record("expected the newcomer to be dropped"); return }
        #expect(buffer.droppedCount == 2)
        #expect(await buffer.next(max: 10) == [100, 101, 102])
    }
}
