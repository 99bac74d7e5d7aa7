import Postgres
import Testing

@Suite("PostgresText")
struct PostgresTextTests {
    @Test("array literals quote every element and escape quotes and backslashes")
    func literals() {
        #expect(PostgresText.array([]) == "{}")
        #expect(PostgresText.array(["12", "-0.5", "sensor_1", #"a"b"#, #"c\d"#, "é"]) == #"{"12","-0.5","sensor_1","a\"b","c\\d","é"}"#)
    }
}
