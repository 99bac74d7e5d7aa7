import TelemetryCore
import Postgres

/// What a worker does about one storage write, decided without I/O: the retry branches of
/// ``Worker`` as a value, tested on its own (`RetryPolicyTests`).
///
/// - An outage (PostgreSQL unreachable) or a lost race (deadlock, serialization failure) is
///   waited out with ``outage`` backoff and spends no attempt: the same rows will go in once the
///   database is back or the other transaction is done.
/// - A data error of a batch with samples is isolated: the rows that fail alone are
///   dead-lettered, the rest stored.
/// - Any other failure spends an attempt: it is retried after exponential backoff with full
///   jitter (`retry.base_ms` doubling to `retry.max_ms`), at most `maxRetries` times, then the
///   item is dead-lettered as `retries_exhausted`. The state lives in the ``RetryLedger``, so a
///   restart neither resets the count nor retries early.
package struct RetryPolicy: Sendable {
    /// How a write failed, as the storage layer classifies it.
    package enum Failure: Sendable, Equatable {
        /// PostgreSQL is unreachable (connection errors, shutdown, out of resources).
        case outage
        /// The transaction lost a race (deadlock `40P01`, serialization failure `40001`).
        case conflict
        /// The rows themselves were refused (SQLSTATE classes 22 and 23).
        case data
        /// Anything else.
        case other
    }

    /// What to do next.
    package enum Action: Sendable, Equatable {
        /// Write now.
        case attempt
        /// Sleep until this epoch millisecond, then write (a retry scheduled earlier, maybe by a
        /// previous run).
        case waitUntil(millis: Int64)
        /// Write the batch in halves down to the samples that fail alone.
        case isolate
        /// Save the updated state in the ledger; the next attempt is due at its `nextAttemptMillis`.
        case retry
        /// Retries are spent: dead-letter the item with this reason after `attempts` tries.
        case deadLetter(TelemetryError.Code, attempts: Int)
    }

    package let maxRetries: Int
    /// Backoff of counted retries (jittered).
    package let retry: Backoff
    /// Backoff while an outage or a lost race is waited out (not jittered).
    package let outage: Backoff

    package init(maxRetries: Int, retry: Backoff, outage: Backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))) {
        self.maxRetries = max(0, maxRetries)
        self.retry = retry
        self.outage = outage
    }

    /// Before a write: wait for a retry the ledger scheduled, or go.
    package func beforeAttempt(_ state: RetryLedger.State, nowMillis: Int64) -> Action {
        state.nextAttemptMillis > nowMillis ? .waitUntil(millis: state.nextAttemptMillis) : .attempt
    }

    /// Whether `failure` is waited out, spending no attempt (an outage, a lost race).
    package static func isWaitedOut(_ failure: Failure) -> Bool { failure == .outage || failure == .conflict }

    /// After a failed write of a batch with `samples` samples that is not waited out: isolate
    /// the failing rows, or count the failure in `state` (the ledger's record of the item) and
    /// retry it later or give up.
    package func afterFailure<G: RandomNumberGenerator>(_ failure: Failure, samples: Int, state: inout RetryLedger.State,
                                                      nowMillis: Int64, using generator: inout G) -> Action {
        if failure == .data && samples > 0 { return .isolate }
        state.failures = state.failures == .max ? state.failures : state.failures + 1
        if state.firstFailureMillis == 0 { state.firstFailureMillis = nowMillis }
        guard state.failures <= maxRetries else { return .deadLetter(.retriesExhausted, attempts: state.failures) }
        state.nextAttemptMillis = nowMillis.addingSaturating(retry.jitteredMillis(afterFailures: state.failures, using: &generator))
        return .retry
    }
}

extension RetryPolicy {
    /// The backoff of waiting out an outage or a lost race: 100 ms doubling to 5 s.
    package static let outageBackoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
}

extension RetryPolicy.Failure {
    /// How PostgreSQL's `error` counts for retries.
    init(_ error: PostgresError) {
        if error.isConnectionError {
            self = .outage
        } else if error.isTransientConflict {
            self = .conflict
        } else if error.isDataError {
            self = .data
        } else {
            self = .other
        }
    }
}
