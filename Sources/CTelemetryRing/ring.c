#include "CTelemetryRing.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_LINE 64

struct telemetry_ring {
    /* Producer side: its own index and a cached copy of the consumer's. */
    _Alignas(CACHE_LINE) _Atomic uint64_t head;
    uint64_t cached_tail;
    /* Consumer side. */
    _Alignas(CACHE_LINE) _Atomic uint64_t tail;
    uint64_t cached_head;
    /* Read-only after creation. */
    _Alignas(CACHE_LINE) uint64_t mask;
    uint32_t capacity;
    telemetry_record_t *slots;
};

telemetry_ring_t *telemetry_ring_create(uint32_t capacity) {
    uint32_t cap = 2;
    while (cap < capacity && cap < (1u << 30)) cap <<= 1;
    telemetry_ring_t *ring = aligned_alloc(CACHE_LINE, sizeof(telemetry_ring_t));
    if (!ring) return NULL;
    memset(ring, 0, sizeof(*ring));
    ring->slots = aligned_alloc(CACHE_LINE, (size_t)cap * sizeof(telemetry_record_t));
    if (!ring->slots) { free(ring); return NULL; }
    ring->capacity = cap;
    ring->mask = cap - 1;
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    return ring;
}

void telemetry_ring_destroy(telemetry_ring_t *ring) {
    if (!ring) return;
    free(ring->slots);
    free(ring);
}

uint32_t telemetry_ring_capacity(const telemetry_ring_t *ring) { return ring->capacity; }

bool telemetry_ring_push(telemetry_ring_t *ring, const telemetry_record_t *record) {
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    if (head - ring->cached_tail >= ring->capacity) {
        ring->cached_tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
        if (head - ring->cached_tail >= ring->capacity) return false;
    }
    ring->slots[head & ring->mask] = *record;
    atomic_store_explicit(&ring->head, head + 1, memory_order_release);
    return true;
}

size_t telemetry_ring_push_batch(telemetry_ring_t *ring, const telemetry_record_t *records, size_t count) {
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    uint64_t free_slots = ring->capacity - (head - ring->cached_tail);
    if (free_slots < count) {
        ring->cached_tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
        free_slots = ring->capacity - (head - ring->cached_tail);
    }
    size_t n = count < free_slots ? count : (size_t)free_slots;
    for (size_t i = 0; i < n; i++) ring->slots[(head + i) & ring->mask] = records[i];
    if (n) atomic_store_explicit(&ring->head, head + n, memory_order_release);
    return n;
}

size_t telemetry_ring_pop_batch(telemetry_ring_t *ring, telemetry_record_t *out, size_t max) {
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

size_t telemetry_ring_count(const telemetry_ring_t *ring) {
    uint64_t tail = atomic_load_explicit(&((telemetry_ring_t *)ring)->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&((telemetry_ring_t *)ring)->head, memory_order_acquire);
    return (size_t)(head - tail);
}

struct c_loop_args { telemetry_ring_t *ring; uint64_t total; };

static void *c_loop_producer(void *arg) {
    struct c_loop_args *a = arg;
    telemetry_record_t rec = {0};
    for (uint64_t i = 0; i < a->total;) {
        rec.sequence = i;
        if (telemetry_ring_push(a->ring, &rec)) i++;
        else sched_yield();
    }
    return NULL;
}

uint64_t telemetry_ring_c_loop(telemetry_ring_t *ring, uint64_t total, size_t drain) {
    struct c_loop_args args = { ring, total };
    pthread_t producer;
    if (pthread_create(&producer, NULL, c_loop_producer, &args) != 0) return 0;
    telemetry_record_t *buf = malloc(drain * sizeof(telemetry_record_t));
    uint64_t received = 0, in_order = 0;
    while (received < total) {
        size_t n = telemetry_ring_pop_batch(ring, buf, drain);
        if (n == 0) { sched_yield(); continue; }
        for (size_t i = 0; i < n; i++) in_order += (buf[i].sequence == received + i);
        received += n;
    }
    pthread_join(producer, NULL);
    free(buf);
    return in_order;
}
