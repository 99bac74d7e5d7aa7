#ifndef CTELEMETRY_RING_H
#define CTELEMETRY_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One reading as it travels through the ring: 32 bytes, no pointers. Half a cache line on
/// purpose: without `sequence` a record is 24 bytes, straddles cache lines and measured slower
/// through the ring (171 M/s against 208 M/s for the staged Swift push, `make bench`).
typedef struct telemetry_record {
    int64_t timestamp_us;   ///< sample time, microseconds since the Unix epoch
    double value;
    uint64_t sequence;      ///< per-producer sequence number (diagnostics, tests)
    uint32_t device_index;  ///< index into the hub's device table
    uint16_t metric_index;  ///< index into the hub's metric table
    uint16_t flags;
} telemetry_record_t;
_Static_assert(sizeof(telemetry_record_t) == 32, "telemetry_record_t is half a cache line");

#include <stdatomic.h>

#define TELEMETRY_RING_CACHE_LINE 64

/// A bounded single-producer single-consumer ring of records (C11 atomics).
/// Exactly one thread may push and exactly one thread may pop at any time. The hot functions are
/// `static inline` so Swift callers inline them just as C callers do (no call per record).
typedef struct telemetry_ring {
    /* Producer side: its own index and a cached copy of the consumer's. */
    _Alignas(TELEMETRY_RING_CACHE_LINE) _Atomic uint64_t head;
    uint64_t cached_tail;
    /* Consumer side. */
    _Alignas(TELEMETRY_RING_CACHE_LINE) _Atomic uint64_t tail;
    uint64_t cached_head;
    /* Read-only after creation. */
    _Alignas(TELEMETRY_RING_CACHE_LINE) uint64_t mask;
    uint32_t capacity;
    telemetry_record_t *slots;
} telemetry_ring_t;

/// Creates a ring holding `capacity` records, rounded up to a power of two (at least 2).
/// Returns NULL when memory cannot be allocated.
telemetry_ring_t *telemetry_ring_create(uint32_t capacity);
void telemetry_ring_destroy(telemetry_ring_t *ring);
uint32_t telemetry_ring_capacity(const telemetry_ring_t *ring);

/// Pushes one record; false when the ring is full (nothing is written).
static inline bool telemetry_ring_push(telemetry_ring_t *ring, const telemetry_record_t *record) {
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    if (head - ring->cached_tail >= ring->capacity) {
        ring->cached_tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
        if (head - ring->cached_tail >= ring->capacity) return false;
    }
    ring->slots[head & ring->mask] = *record;
    atomic_store_explicit(&ring->head, head + 1, memory_order_release);
    return true;
}

/// Half a record as a 16-byte vector, for the streaming stores below: SSE2 has a non-temporal
/// store for it (`movntdq`) whatever the fields' types, whereas a `double` field stored on its own
/// would compile to a regular store and pull the line into the cache after all. Loads use the
/// unaligned variant (a record on the stack is 8-byte aligned); slots are 16-byte aligned.
typedef long long telemetry_record_half_t __attribute__((__vector_size__(16), __may_alias__));
typedef long long telemetry_record_half_unaligned_t __attribute__((__vector_size__(16), __aligned__(8), __may_alias__));

/// Writes `record` to `slot` with non-temporal (streaming) stores where the target has them.
///
/// A regular store must first fetch the slot's cache line from the consumer's core, which read it
/// one lap earlier; streaming stores go through write-combining buffers and need no such fetch.
/// Measured on the 2-vCPU bench machines (`make bench`): the same ring went from 56 M/s to about
/// 230 M/s when the host put the two vCPUs far apart, and did not lose when it put them close.
static inline void telemetry_ring_store_streaming(telemetry_record_t *slot, const telemetry_record_t *record) {
#if defined(__x86_64__) && defined(__clang__)
    const telemetry_record_half_unaligned_t *from = (const telemetry_record_half_unaligned_t *)record;
    telemetry_record_half_t *to = (telemetry_record_half_t *)slot;
    __builtin_nontemporal_store((telemetry_record_half_t)from[0], &to[0]);
    __builtin_nontemporal_store((telemetry_record_half_t)from[1], &to[1]);
#else
    *slot = *record;
#endif
}

/// Producer, in place: writes `record` into the slot `pending` places after the last published
/// record (streaming stores, no staging copy); false when that slot is not free (the ring is full,
/// counting the `pending` records written before it). Nothing is visible to the consumer until
/// `telemetry_ring_publish(ring, pending)`.
static inline bool telemetry_ring_stage(telemetry_ring_t *ring, uint64_t pending, const telemetry_record_t *record) {
    uint64_t position = atomic_load_explicit(&ring->head, memory_order_relaxed) + pending;
    if (position - ring->cached_tail >= ring->capacity) {
        ring->cached_tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
        if (position - ring->cached_tail >= ring->capacity) return false;
    }
    telemetry_ring_store_streaming(&ring->slots[position & ring->mask], record);
    return true;
}

/// Producer: makes the `pending` records written by `telemetry_ring_stage` visible with one
/// release store (after a store fence: streaming stores are not ordered by a release store).
static inline void telemetry_ring_publish(telemetry_ring_t *ring, uint64_t pending) {
    if (pending == 0) return;
#if defined(__x86_64__) && defined(__clang__)
    __builtin_ia32_sfence();
#endif
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    atomic_store_explicit(&ring->head, head + pending, memory_order_release);
}

/// Pops up to `max` records into `out` in FIFO order; returns how many were popped.
static inline size_t telemetry_ring_pop_batch(telemetry_ring_t *ring, telemetry_record_t *out, size_t max) {
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    uint64_t available = ring->cached_head - tail;
    if (available < max) {
        ring->cached_head = atomic_load_explicit(&ring->head, memory_order_acquire);
        available = ring->cached_head - tail;
    }
    size_t n = max < available ? max : (size_t)available;
    for (size_t i = 0; i < n; i++) out[i] = ring->slots[(tail + i) & ring->mask];
    if (n) atomic_store_explicit(&ring->tail, tail + n, memory_order_release);
    return n;
}
/// Records currently queued (a snapshot; exact only when both sides are quiet).
size_t telemetry_ring_count(const telemetry_ring_t *ring);

#ifdef __cplusplus
}
#endif
#endif
