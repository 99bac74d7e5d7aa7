import Configuration
import TelemetryConfiguration
import Testing

@Suite("Strict configuration reader")
struct ConfigReaderStrictTests {
    static func reader(_ values: [String: String]) -> ConfigReader {
        ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: values))
    }

    @Test("defaults when unset; values in range are read; out of range, unparsable or unknown choices name the key")
    func values() throws {
        let empty = Self.reader([:])
        #expect(try empty.strictInt("a.b", default: 7, in: 1...10) == 7)
        #expect(try empty.strictString("a.c", default: "x") == "x")
        let set = Self.reader(["A_B": "9", "A_C": "warning", "A_D": "true", "A_E": "1e308"])
        #expect(try set.strictInt("a.b", default: 7, in: 1...10) == 9)
        #expect(try set.strictString("a.c", default: "info", choices: ["info", "warning"]) == "warning")
        #expect(try set.strictBool("a.d", default: false))
        #expect(try set.strictDouble("a.e", default: 0) == 1e308)
        #expect { try set.strictInt("a.b", default: 7, in: 1...5) } throws: { ($0 as? ConfigurationError)?.key == "a.b" }
        #expect { try set.strictString("a.c", default: "info", choices: ["info"]) } throws: { ($0 as? ConfigurationError)?.key == "a.c" }
        #expect { try Self.reader(["A_B": "many"]).strictInt("a.b", default: 1) } throws: { ($0 as? ConfigurationError)?.key == "a.b" }
        #expect { try Self.reader(["A_B": "9223372036854775808"]).strictInt("a.b", default: 1) } throws: { $0 is ConfigurationError }
    }
}
