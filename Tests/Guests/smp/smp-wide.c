/* 128-bit atomics against 64-bit ones on the same 16 bytes. In each round CPU 0 adds 1 to the high
 * half of a 16-byte pair with a 128-bit atomic that writes the whole pair back (CASPAL, then an
 * LDXP/STXP loop) while every other CPU adds 1 to the low half with LDADD; then every CPU adds to
 * both halves with LDXP/STXP. If the 128-bit write were not atomic against the LDADDs, low-half
 * increments would be lost; all totals must be exact.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smp.h"

#define INCREMENTS 200000u

static volatile uint64_t pair[2] __attribute__((aligned(CACHE_LINE)));
static struct smp_barrier barrier;

/* Adds 1 to pair[1] with CASPAL, keeping pair[0] as found; retries until the CASP succeeds. */
static NOINLINE void high_casp(volatile uint64_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        for (;;) {
            uint64_t lo = p[0], hi = p[1];
            register uint64_t e0 __asm__("x0") = lo;
            register uint64_t e1 __asm__("x1") = hi;
            register uint64_t n0 __asm__("x2") = lo;
            register uint64_t n1 __asm__("x3") = hi + 1;
            __asm__ volatile("caspal x0, x1, x2, x3, [%4]"
                             : "+r"(e0), "+r"(e1) : "r"(n0), "r"(n1), "r"(p) : "memory");
            if (e0 == lo && e1 == hi)
                break;
        }
    }
}

/* Adds `add_lo` to pair[0] and `add_hi` to pair[1] with an LDXP/STXP loop. */
static NOINLINE void both_exclusive(volatile uint64_t *p, uint64_t n, uint64_t add_lo, uint64_t add_hi)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t lo, hi;
        uint32_t status;
        __asm__ volatile("1: ldxp %0, %1, [%3]\n\t"
                         "add %0, %0, %4\n\t"
                         "add %1, %1, %5\n\t"
                         "stxp %w2, %0, %1, [%3]\n\t"
                         "cbnz %w2, 1b"
                         : "=&r"(lo), "=&r"(hi), "=&r"(status) : "r"(p), "r"(add_lo), "r"(add_hi) : "memory");
    }
}

static NOINLINE void low_ldadd(volatile uint64_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        ldadd_increment(p);
}

enum round { CASP_VS_LDADD, STXP_VS_LDADD, ALL_STXP, ROUNDS };
static const char *const round_names[ROUNDS] = {
    "CASPAL on the pair, LDADD on its low half", "LDXP/STXP on the pair, LDADD on its low half",
    "LDXP/STXP on the pair everywhere",
};

static void run_round(unsigned cpu, enum round r)
{
    smp_barrier_wait(&barrier);
    uint64_t n = OPAQUE((uint64_t)INCREMENTS);
    if (r == ALL_STXP)
        both_exclusive(pair, n, 1, 2);
    else if (cpu != 0)
        low_ldadd(&pair[0], n);
    else if (r == CASP_VS_LDADD)
        high_casp(pair, n);
    else
        both_exclusive(pair, n, 0, 1);
    smp_barrier_wait(&barrier);
}

static void work(unsigned cpu, void *arg)
{
    (void)arg;
    for (int r = 0; r < ROUNDS; r++) {
        run_round(cpu, r);
        smp_barrier_wait(&barrier); /* CPU 0 checks and resets meanwhile */
    }
}

int main(void)
{
    unsigned cpus = smp_start_all_with_barrier(&barrier, work, 0);
    printf("%u CPUs, %u increments each\n", cpus, INCREMENTS);
    int wrong = 0;
    for (int r = 0; r < ROUNDS; r++) {
        run_round(0, r);
        uint64_t lo = pair[0], hi = pair[1];
        uint64_t want_lo = r == ALL_STXP ? (uint64_t)cpus * INCREMENTS : (uint64_t)(cpus - 1) * INCREMENTS;
        uint64_t want_hi = r == ALL_STXP ? 2ull * cpus * INCREMENTS : INCREMENTS;
        int exact = lo == want_lo && hi == want_hi;
        printf("%-45s low %lu high %lu (%s)\n", round_names[r], lo, hi, exact ? "exact" : "WRONG");
        wrong |= !exact;
        pair[0] = 0;
        pair[1] = 0;
        smp_barrier_wait(&barrier);
    }
    smp_join_all(cpus);
    return wrong;
}
