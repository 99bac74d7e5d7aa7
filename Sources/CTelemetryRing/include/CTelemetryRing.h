#ifndef CTELEMETRY_RING_H
#define CTELEMETRY_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One reading as it travels through the ring: 32 bytes, no pointers.
typedef struct telemetry_record {
    int64_t timestamp_us;   ///< sample time, microseconds since the Unix epoch
    double value;
    uint64_t sequence;      ///< per-producer sequence number (diagnostics, tests)
    uint32_t device_index;  ///< index into the hub's device table
    uint16_t metric_index;  ///< index into the hub's metric table
    uint16_t flags;
} telemetry_record_t;

/// A bounded single-producer single-consumer ring of records (C11 atomics).
/// Exactly one thread may push and exactly one thread may pop at any time.
typedef struct telemetry_ring telemetry_ring_t;

/// Creates a ring holding `capacity` records, rounded up to a power of two (at least 2).
/// Returns NULL when memory cannot be allocated.
telemetry_ring_t *telemetry_ring_create(uint32_t capacity);
void telemetry_ring_destroy(telemetry_ring_t *ring);
uint32_t telemetry_ring_capacity(const telemetry_ring_t *ring);

/// Pushes one record; false when the ring is full (nothing is written).
bool telemetry_ring_push(telemetry_ring_t *ring, const telemetry_record_t *record);
/// Pushes up to `count` records, publishing them with one release store; returns how many fit.
size_t telemetry_ring_push_batch(telemetry_ring_t *ring, const telemetry_record_t *records, size_t count);
/// Pops up to `max` records into `out` in FIFO order; returns how many were popped.
size_t telemetry_ring_pop_batch(telemetry_ring_t *ring, telemetry_record_t *out, size_t max);
/// Records currently queued (a snapshot; exact only when both sides are quiet).
size_t telemetry_ring_count(const telemetry_ring_t *ring);

/// Benchmark helper: moves `total` records through `ring` with a C producer thread and a C
/// consumer draining up to `drain` records at a time. Returns the number of records received
/// in order (equal to `total` on success).
uint64_t telemetry_ring_c_loop(telemetry_ring_t *ring, uint64_t total, size_t drain);

#ifdef __cplusplus
}
#endif
#endif
