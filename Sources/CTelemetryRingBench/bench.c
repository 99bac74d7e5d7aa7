#define _GNU_SOURCE
#include "CTelemetryRingBench.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

int telemetry_pin_thread(int cpu) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu < 0) {
        for (long c = 0; c < cpus && c < CPU_SETSIZE; c++) CPU_SET(c, &set);
    } else {
        if (cpu >= cpus) return -1;
        CPU_SET(cpu, &set);
    }
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

struct c_loop_args { telemetry_ring_t *ring; uint64_t total; size_t publish; };

static void *c_loop_producer(void *arg) {
    struct c_loop_args *a = arg;
    telemetry_pin_thread(0);
    telemetry_record_t rec = {0};
    if (a->publish <= 1) {
        for (uint64_t i = 0; i < a->total;) {
            /* The same fields the Swift producers write, so both sides do the same work. */
            rec.sequence = i;
            rec.timestamp_us = (int64_t)i;
            rec.value = 1;
            rec.device_index = (uint32_t)(i & 1023);
            if (telemetry_ring_push(a->ring, &rec)) i++;
            else sched_yield();
        }
        return NULL;
    }
    for (uint64_t i = 0; i < a->total;) {
        size_t n = a->total - i < a->publish ? (size_t)(a->total - i) : a->publish;
        size_t pending = 0;
        while (pending < n) {
            rec.sequence = i + pending;
            rec.timestamp_us = (int64_t)(i + pending);
            rec.value = 1;
            rec.device_index = (uint32_t)pending;
            if (telemetry_ring_stage(a->ring, pending, &rec)) { pending++; continue; }
            /* Full: publish what is written so the consumer can make room, then go on. */
            telemetry_ring_publish(a->ring, pending);
            i += pending;
            n -= pending;
            pending = 0;
            sched_yield();
        }
        telemetry_ring_publish(a->ring, pending);
        i += pending;
    }
    return NULL;
}

uint64_t telemetry_ring_c_loop(telemetry_ring_t *ring, uint64_t total, size_t drain, size_t publish) {
    struct c_loop_args args = { ring, total, publish };
    pthread_t producer;
    if (pthread_create(&producer, NULL, c_loop_producer, &args) != 0) return 0;
    telemetry_pin_thread(1);
    telemetry_record_t *buf = malloc(drain * sizeof(telemetry_record_t));
    uint64_t received = 0, in_order = 0;
    while (received < total) {
        size_t n = telemetry_ring_pop_batch(ring, buf, drain);
        if (n == 0) { sched_yield(); continue; }
        for (size_t i = 0; i < n; i++) in_order += (buf[i].sequence == received + i);
        received += n;
    }
    pthread_join(producer, NULL);
    telemetry_pin_thread(-1);
    free(buf);
    return in_order;
}
