/* Guest side of the undefined-or-not comparison in Tests/IntegrationTests/DifferentialFuzzTests.swift.
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The test generates verdict_words[]: random words from the A64 top-level encoding classes. This
 * program runs each one alone at EL0 and reports what the word itself did: the exception class it
 * took at its own address (0x00 is UNDEFINED), or "--" when it completed (whatever it took after).
 *
 * Each word runs in the same setting, so that what follows a defined instruction cannot get away:
 * every general register and SP_EL0 point at a landing zone in the middle of a scratch buffer that
 * is zero (UDF) before each word, so a register branch lands on an undefined instruction; loads and
 * stores through any register stay inside the buffer or leave RAM and abort; the test rewrites
 * immediate branch offsets to +4 (the offset never decides whether an encoding is allocated), so
 * they fall through to the BRK that ends the probe. EL0 keeps the word from reconfiguring EL1.
 * The test leaves out WFI and WFE (they may wait for ever) and HLT #0xf000 (semihosting).
 *
 * Output: "verdicts N" then lines of up to 32 two-digit results, in order.
 */
#include "rt.h"

#pragma GCC target("general-regs-only")

#define SCRATCH_SIZE (1u << 20)
#define PROBE_INDEX 31
#define BRK_1 0xd4200020u
#define COMPLETED 0x40u

extern const uint32_t verdict_words[];
extern const uint64_t verdict_count;

static uint8_t scratch[SCRATCH_SIZE] __attribute__((aligned(4096)));
/* What EL0 runs: x0 = SP_EL0 (the landing zone), x1..x30 = x0, the word, BRK #1. */
static uint32_t probe_code[64] __attribute__((aligned(4096)));
static uint8_t results[1 << 16];

int handle_sync(struct frame *f)
{
    if ((f->spsr & 0xf) != 0)
        return 0; /* from EL1: the harness itself went wrong */
    f->x[0] = f->elr == (uint64_t)&probe_code[PROBE_INDEX] ? esr_ec(f->esr) : COMPLETED;
    f->elr = (uint64_t)el0_return;
    f->spsr = SPSR_EL1H_MASKED;
    return 1;
}

static void sync_code(const void *p)
{
    __asm__ volatile("dc cvau, %0\n\tdsb ish\n\tic ivau, %0\n\tdsb ish\n\tisb" : : "r"(p) : "memory");
}

int main(void)
{
    uint8_t *landing = scratch + SCRATCH_SIZE / 2;
    probe_code[0] = 0x910003e0u; /* mov x0, sp */
    for (unsigned r = 1; r <= 30; r++)
        probe_code[r] = 0xaa0003e0u | r; /* mov xr, x0 */
    probe_code[PROBE_INDEX + 1] = BRK_1;
    uint64_t count = verdict_count < sizeof results ? verdict_count : sizeof results;
    for (uint64_t i = 0; i < count; i++) {
        memset(landing - 256, 0, 512);
        probe_code[PROBE_INDEX] = verdict_words[i];
        sync_code(&probe_code[PROBE_INDEX]);
        results[i] = (uint8_t)enter_el0((void (*)(void))probe_code, landing);
    }
    printf("verdicts %lu\n", (unsigned long)count);
    for (uint64_t i = 0; i < count; i++) {
        if (results[i] == COMPLETED)
            printf("--");
        else
            printf("%02x", results[i]);
        if (i % 32 == 31 || i + 1 == count)
            printf("\n");
    }
    return 0;
}
