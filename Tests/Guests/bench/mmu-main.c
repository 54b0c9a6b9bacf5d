/* Runs a benchmark with the MMU on: RAM identity-mapped in 4 KiB pages (so every access goes through the
 * TLB with the smallest pages there are), the first GiB (devices) as one Device block. The benchmark's own
 * main is compiled as bench_main (-Dmain=bench_main). For `make bench`'s "MMU on" column.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#undef main /* the benchmark's main is renamed on the command line; this one stays */

#define RAM_BASE 0x40000000ULL
#define RAM_SIZE (128ULL << 20)
#define L3_TABLES (RAM_SIZE >> 21)

static uint64_t l1[512] __attribute__((aligned(4096)));
static uint64_t l2[512] __attribute__((aligned(4096)));
static uint64_t l3[L3_TABLES][512] __attribute__((aligned(4096)));

int bench_main(void);

int main(void)
{
    const uint64_t normal = (0ULL << 2) | (3ULL << 8) | (1ULL << 10); /* MAIR index 0, inner shareable, AF */
    const uint64_t device = (1ULL << 2) | (1ULL << 10) | (1ULL << 53) | (1ULL << 54);
    l1[0] = 0 | device | 1;
    l1[1] = (uint64_t)l2 | 3;
    for (uint64_t t = 0; t < L3_TABLES; t++) {
        l2[t] = (uint64_t)l3[t] | 3;
        for (uint64_t i = 0; i < 512; i++)
            l3[t][i] = (RAM_BASE + (t << 21) + (i << 12)) | normal | 3;
    }
    SYSREG_WRITE(mair_el1, 0xffULL);
    /* T0SZ 25 (walks start at level 1), 4 KiB granule, write-back inner shareable walks, TTBR1 off, IPS 40 bits. */
    SYSREG_WRITE(tcr_el1, 25ULL | (1ULL << 8) | (1ULL << 10) | (3ULL << 12) | (1ULL << 23) | (2ULL << 32));
    SYSREG_WRITE(ttbr0_el1, (uint64_t)l1);
    __asm__ volatile("dsb ish\n\ttlbi vmalle1\n\tdsb ish\n\tisb" ::: "memory");
    SYSREG_WRITE(sctlr_el1, SYSREG_READ(sctlr_el1) | 1 | (1 << 2) | (1 << 12));
    __asm__ volatile("isb" ::: "memory");
    return bench_main();
}
