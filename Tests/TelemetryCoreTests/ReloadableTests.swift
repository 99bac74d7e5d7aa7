import TelemetryCore
import Testing

@Suite("Reloadable")
struct ReloadableTests {
    @Test("each update bumps the generation and replaces the value")
    func generations() {
        let settings = Reloadable(60.0)
        let seen = settings.generation
        #expect(settings.value == 60)
        settings.update(80)
        #expect(settings.generation == seen + 1)
        #expect(settings.value == 80)
    }
}
