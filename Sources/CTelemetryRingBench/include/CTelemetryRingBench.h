#ifndef CTELEMETRYRINGBENCH_H
#define CTELEMETRYRINGBENCH_H

/* The ring's C baseline for `make bench`: not part of the production ring target. */
#include "CTelemetryRing.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Benchmark helper: moves `total` records through `ring` with a C producer thread and a C
/// consumer draining up to `drain` records at a time. The producer pushes one record at a time
/// (`publish` ≤ 1) or writes `publish` records in place (`telemetry_ring_stage`) and publishes
/// them with one release store (`telemetry_ring_publish`). Returns the
/// number of records received in order (equal to `total` on success).
/// The producer runs on CPU 0 and the consumer on CPU 1 (see `telemetry_pin_thread`).
uint64_t telemetry_ring_c_loop(telemetry_ring_t *ring, uint64_t total, size_t drain, size_t publish);

/// Benchmark helper: binds the calling thread to `cpu`, or to every online CPU when `cpu` < 0.
/// A producer/consumer pair pinned to two CPUs is measured as such, not as two threads the
/// scheduler sometimes puts on one CPU of a shared machine. Returns 0 on success.
int telemetry_pin_thread(int cpu);

#ifdef __cplusplus
}
#endif
#endif
