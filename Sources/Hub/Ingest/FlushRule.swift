/// When ``IngestActor`` closes a shard's open batch before it is full: a pure rule, tested in
/// `FlushRuleTests`.
///
/// A non-empty batch is closed when
/// - the hub is stopping and a pass over the rings found nothing more (everything is flushed), or
/// - `ingest.flush_when_idle` is on and the rings were idle two passes in a row (a pass right
///   after a drain usually finds nothing too, and proves no pause), or
/// - it has been open for `ingest.flush_interval_ms` or longer.
package struct FlushRule: Sendable, Equatable {
    package let intervalMicros: Int64
    package let whenIdle: Bool

    package init(intervalMillis: Int, whenIdle: Bool) {
        intervalMicros = Int64(max(0, intervalMillis)) * 1000
        self.whenIdle = whenIdle
    }

    /// Whether to close a non-empty batch opened at `openedAtMicros`. `drained` is what this
    /// pass took from the rings, `idlePasses` how many passes before it found nothing (0 or 1).
    package func closes(openedAtMicros: Int64, nowMicros: Int64, drained: Int, idlePasses: Int, stopping: Bool) -> Bool {
        if stopping && drained == 0 { return true }
        if whenIdle && drained == 0 && idlePasses > 0 { return true }
        let (age, overflow) = nowMicros.subtractingReportingOverflow(openedAtMicros)
        return overflow ? nowMicros > openedAtMicros : age >= intervalMicros
    }
}
