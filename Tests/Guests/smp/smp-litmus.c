/* Store buffering, the one reordering an x86-64 host makes: CPU 0 writes x then reads y while CPU 1
 * writes y then reads x. With a full barrier (DMB ISH) between the write and the read, or with STLR
 * then LDAR (load-acquire after store-release is ordered, RCsc), at least one CPU must see the other's
 * write: both reading 0 is forbidden. Each round starts both CPUs together and delays each by a
 * different, changing amount so that the two sides overlap in many alignments. Other CPUs stay off.
 * CPU 1 waits for each round spinning much longer than SMP_WAIT_UNTIL does before it naps: an early
 * nap would keep the two sides from overlapping. A round in which the sides did not overlap proves
 * nothing, so each side also raises a "started" flag just before its write and, just after its read,
 * looks for the other's: a round where both saw the other's flag had both CPUs inside the window at
 * once, and the count of those rounds is printed for the test to require a minimum of. Checked by
 * MemoryOrderingTests.swift, not against QEMU (QEMU 7.2 lets the STLR/LDAR case reorder).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smp.h"

#define ROUNDS 200000u

static volatile uint64_t x CACHE_ALIGNED;
static volatile uint64_t y CACHE_ALIGNED;
static volatile uint64_t go CACHE_ALIGNED;
static volatile uint64_t done CACHE_ALIGNED;
static volatile uint64_t seen_by_1 CACHE_ALIGNED;
/* The round each CPU last entered its write-then-read window in, and whether CPU 1 saw CPU 0 inside. */
static volatile uint64_t started_0 CACHE_ALIGNED;
static volatile uint64_t started_1 CACHE_ALIGNED;
static volatile uint64_t overlap_seen_by_1 CACHE_ALIGNED;

enum kind { WITH_DMB, WITH_STLR_LDAR, KINDS };
static const char *const kind_names[KINDS] = { "STR; DMB ISH; LDR", "STLR; LDAR" };

static inline void delay(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        __asm__ volatile("" ::: "memory");
}

/* Writes 1 to *mine, then reads *other, ordered as `k` says. */
static inline uint64_t write_then_read(enum kind k, volatile uint64_t *mine, volatile uint64_t *other)
{
    uint64_t one = 1, v;
    if (k == WITH_DMB)
        __asm__ volatile("str %1, [%2]\n\tdmb ish\n\tldr %0, [%3]" : "=&r"(v) : "r"(one), "r"(mine), "r"(other) : "memory");
    else
        __asm__ volatile("stlr %1, [%2]\n\tldar %0, [%3]" : "=&r"(v) : "r"(one), "r"(mine), "r"(other) : "memory");
    return v;
}

static void cpu1(unsigned cpu, void *arg)
{
    (void)cpu;
    (void)arg;
    for (enum kind k = 0; k < KINDS; k++) {
        for (uint64_t r = 1; r <= ROUNDS; r++) {
            uint64_t round = k * ROUNDS + r;
            unsigned spins = 0;
            while (load_acquire64(&go) != round) {
                /* A host with fewer free cores than running vCPUs must get to run CPU 0. */
                if (++spins == 10000) {
                    spins = 0;
                    smp_nap(20);
                }
            }
            delay((unsigned)(r * 13) % 48);
            started_1 = round;
            seen_by_1 = write_then_read(k, &y, &x);
            overlap_seen_by_1 = started_0 == round;
            store_release64(&done, round);
        }
    }
}

int main(void)
{
    if (psci_affinity_info(1, 0) == PSCI_INVALID_PARAMETERS) {
        printf("smp-litmus needs 2 CPUs\n");
        return 1;
    }
    static uint32_t forbidden[KINDS], overlapping[KINDS];
    smp_start(1, cpu1, 0);
    for (enum kind k = 0; k < KINDS; k++) {
        for (uint64_t r = 1; r <= ROUNDS; r++) {
            uint64_t round = k * ROUNDS + r;
            x = 0;
            y = 0;
            DMB_ISH();
            store_release64(&go, round);
            delay((unsigned)(r * 7) % 48);
            started_0 = round;
            uint64_t seen_by_0 = write_then_read(k, &x, &y);
            int overlap_seen_by_0 = started_1 == round;
            SMP_WAIT_UNTIL(load_acquire64(&done) == round);
            if (seen_by_0 == 0 && seen_by_1 == 0)
                forbidden[k]++;
            if (overlap_seen_by_0 && overlap_seen_by_1)
                overlapping[k]++;
        }
    }
    smp_join(1);
    int wrong = 0;
    for (enum kind k = 0; k < KINDS; k++) {
        printf("%-18s both read 0 in %u of %u rounds (%s); both inside at once in %u rounds\n", kind_names[k],
               forbidden[k], ROUNDS, forbidden[k] ? "FORBIDDEN" : "ok", overlapping[k]);
        wrong |= forbidden[k] != 0;
    }
    return wrong;
}
