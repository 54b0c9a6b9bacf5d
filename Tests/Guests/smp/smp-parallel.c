/* An embarrassingly parallel workload for `make bench`'s multi-core speed-up: every CPU does the
 * same fixed amount of independent work (hashing a private buffer over and over), touching no
 * shared data until it reports its result. Run with N CPUs it does N times the work of one CPU;
 * the speed-up is t(1 CPU) * N / t(N CPUs).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smp.h"

#define PASSES 50000u
#define BUFFER_WORDS 512u

static struct {
    uint64_t buffer[BUFFER_WORDS];
    volatile uint64_t result;
} CACHE_ALIGNED per_cpu[SMP_MAX_CPUS];

static NOINLINE uint64_t pass(uint64_t *buffer, uint64_t hash)
{
    for (unsigned i = 0; i < BUFFER_WORDS; i++) {
        uint64_t v = buffer[i] ^ hash;
        v *= 0xff51afd7ed558ccdULL;
        v ^= v >> 33;
        buffer[i] = v;
        hash = (hash ^ v) * 0x100000001b3ULL;
    }
    return hash;
}

static void work(unsigned cpu, void *arg)
{
    (void)arg;
    uint64_t *buffer = per_cpu[cpu].buffer;
    /* Every CPU starts from the same data, so every result must be the same. */
    for (unsigned i = 0; i < BUFFER_WORDS; i++)
        buffer[i] = i * 0x9e3779b97f4a7c15ULL;
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (unsigned p = 0; p < OPAQUE(PASSES); p++)
        hash = pass(buffer, hash);
    per_cpu[cpu].result = hash;
}

int main(void)
{
    unsigned cpus = smp_start_all(work, 0);
    work(0, 0);
    smp_join_all(cpus);
    int ok = 1;
    for (unsigned cpu = 1; cpu < cpus; cpu++)
        ok &= per_cpu[cpu].result == per_cpu[0].result;
    printf("smp-parallel: %u CPUs x %u passes over %u words: result %016lx, %s\n", cpus, PASSES,
           BUFFER_WORDS, per_cpu[0].result, ok ? "all CPUs agree" : "CPUs DISAGREE");
    return ok ? 0 : 1;
}
