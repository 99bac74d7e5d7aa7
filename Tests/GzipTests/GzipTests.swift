import Foundation
import Gzip
import Testing

@Suite("Gzip")
struct GzipTests {
    static func gzip(_ text: String) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-c"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Array(data)
    }

    static func text(_ bytes: [UInt8], limit: Int = 1 << 20) throws(Gzip.Failure) -> String {
        String(decoding: try Gzip.inflate(bytes, limit: limit), as: UTF8.self)
    }

    @Test("one member or several, each checked to its trailer; a cut stream, trailing garbage, a bad CRC and a bomb are refused")
    func inflate() throws {
        let one = try Self.gzip("first line\n"), two = try Self.gzip("second line\n")
        #expect(try Self.text(one) == "first line\n")
        #expect(try Self.text(one + two) == "first line\nsecond line\n")
        #expect(throws: Gzip.Failure.truncated) { try Self.text(Array(one.dropLast(4))) }
        #expect(throws: Gzip.Failure.truncated) { try Self.text(Array(one.prefix(12))) }
        #expect(throws: Gzip.Failure.corrupt) { try Self.text(one + Array("junk".utf8)) }
        #expect(throws: Gzip.Failure.corrupt) { try Self.text(Array("not gzip at all".utf8)) }
        var flipped = one
        flipped[flipped.count - 6] ^= 0xFF  // the CRC-32 in the trailer
        #expect(throws: Gzip.Failure.corrupt) { try Self.text(flipped) }
        let bomb = try Self.gzip(String(repeating: " ", count: 3 << 20))
        #expect(throws: Gzip.Failure.tooLarge) { try Self.text(bomb, limit: 1 << 20) }
        #expect(try Gzip.inflate(bomb, limit: 4 << 20).count == 3 << 20)
        #expect(throws: Gzip.Failure.truncated, "an empty body is a member cut before it began") { try Gzip.inflate([], limit: 10) }
        #expect(throws: Gzip.Failure.tooLarge) { try Gzip.inflate(one, limit: -1) }
    }
}
