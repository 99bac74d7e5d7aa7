import Logging
import Systemd
import Testing

@Suite("journald fields")
struct JournaldLogHandlerTests {
    @Test("metadata keys become valid journal field names: upper case, [A-Z0-9_], no leading underscore or digit, at most 64 bytes")
    func fieldNames() {
        #expect(JournaldLogHandler.fieldName("batch_id") == "BATCH_ID")
        #expect(JournaldLogHandler.fieldName("http-port") == "HTTP_PORT")
        #expect(JournaldLogHandler.fieldName("_private") == "PRIVATE", "a leading underscore marks trusted fields")
        #expect(JournaldLogHandler.fieldName("9lives") == "F9LIVES")
        #expect(JournaldLogHandler.fieldName("") == "F")
        #expect(JournaldLogHandler.fieldName("___") == "F")
        #expect(JournaldLogHandler.fieldName("température\u{0}x") == "TEMP_RATURE_X")
        #expect(JournaldLogHandler.fieldName(String(repeating: "k", count: 200)).utf8.count == 64)
        // Found by review: a metadata key `message` or `priority` added a second MESSAGE or PRIORITY.
        #expect(JournaldLogHandler.fieldName("message") == "META_MESSAGE")
        #expect(JournaldLogHandler.fieldName("Priority") == "META_PRIORITY")
        #expect(JournaldLogHandler.fieldName("code.line") == "META_CODE_LINE")
        #expect(JournaldLogHandler.fieldName("messages") == "MESSAGES")
    }

    @Test("log levels map to syslog priorities")
    func priorities() {
        #expect(Logger.Level.allCases.map(JournaldLogHandler.priority) == [7, 7, 6, 5, 4, 3, 2])
    }

    @Test("stderr is the journal only when JOURNAL_STREAM names it")
    func journalStream() {
        #expect(!JournaldLogHandler.stderrIsJournal(environment: [:]))
        #expect(!JournaldLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "garbage"]))
        #expect(!JournaldLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "1:2"]))
    }
}
