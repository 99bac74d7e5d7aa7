#define _GNU_SOURCE
#include "CTelemetryRing.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_LINE TELEMETRY_RING_CACHE_LINE

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

size_t telemetry_ring_count(const telemetry_ring_t *ring) {
    uint64_t tail = atomic_load_explicit(&((telemetry_ring_t *)ring)->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&((telemetry_ring_t *)ring)->head, memory_order_acquire);
    return (size_t)(head - tail);
}
