/* Every CPU adds 1 to one shared counter 1,000,000 times, first with an LDXR/STXR retry loop, then
 * with LDADD, then with a CAS loop; the totals must be exact. Each CPU also counts its own
 * increments in a private word, which must come to 1,000,000 each.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smp.h"

#define INCREMENTS 1000000u

static volatile uint64_t counter CACHE_ALIGNED;
static struct {
    volatile uint64_t increments;
} CACHE_ALIGNED per_cpu[SMP_MAX_CPUS];
static struct smp_barrier barrier;

enum method { EXCLUSIVE, LDADD, CAS, METHODS };
static const char *const method_names[METHODS] = { "LDXR/STXR", "LDADD", "CASAL" };

static NOINLINE void add_exclusive(volatile uint64_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        exclusive_increment(p);
}

static NOINLINE void add_ldadd(volatile uint64_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        ldadd_increment(p);
}

static NOINLINE void add_cas(volatile uint64_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t expected = *p, seen;
        for (;;) {
            seen = expected;
            __asm__ volatile("casal %0, %2, [%1]" : "+r"(seen) : "r"(p), "r"(expected + 1) : "memory");
            if (seen == expected)
                break;
            expected = seen;
        }
    }
}

/* One CPU's part of a round; all CPUs start it together. */
static void count(unsigned cpu, enum method m)
{
    smp_barrier_wait(&barrier);
    uint64_t n = OPAQUE((uint64_t)INCREMENTS);
    switch (m) {
    case EXCLUSIVE: add_exclusive(&counter, n); break;
    case LDADD: add_ldadd(&counter, n); break;
    default: add_cas(&counter, n); break;
    }
    per_cpu[cpu].increments += n;
    smp_barrier_wait(&barrier);
}

static void work(unsigned cpu, void *arg)
{
    (void)arg;
    for (int m = 0; m < METHODS; m++) {
        count(cpu, m);
        /* CPU 0 checks the total and resets the counter meanwhile. */
        smp_barrier_wait(&barrier);
    }
}

int main(void)
{
    unsigned cpus = smp_start_all_with_barrier(&barrier, work, 0);
    printf("%u CPUs, %u increments each\n", cpus, INCREMENTS);

    for (int m = 0; m < METHODS; m++) {
        count(0, m);
        uint64_t total = counter, expected = (uint64_t)cpus * INCREMENTS;
        printf("%-9s total %lu (%s)\n", method_names[m], total, total == expected ? "exact" : "WRONG");
        if (total != expected)
            exit(1);
        counter = 0;
        smp_barrier_wait(&barrier);
    }
    smp_join_all(cpus);
    for (unsigned cpu = 0; cpu < cpus; cpu++)
        if (per_cpu[cpu].increments != (uint64_t)METHODS * INCREMENTS) {
            printf("cpu %u did %lu increments\n", cpu, per_cpu[cpu].increments);
            exit(1);
        }
    printf("every CPU did its share\n");
    return 0;
}
