/* Undefined instructions: UDF, the all-zero word, unallocated encodings, system registers
 * that do not exist at EL1, SMC without EL3, HLT other than the semihosting immediate and an
 * SVE instruction on a core without SVE. The handler checks EC=0x00, prints it and the offset
 * of ELR from the faulting instruction, and skips the instruction.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static unsigned traps;
static uint64_t last_esr, last_elr;

int handle_sync(struct frame *f)
{
    if (esr_ec(f->esr) != EC_UNKNOWN)
        return 0;
    traps++;
    last_esr = f->esr;
    last_elr = f->elr;
    f->elr += 4;
    return 1;
}

/* Each probe runs one instruction and reports how many traps it took and where ELR pointed. */
#define PROBE(name, insn)                                                                        \
    static void probe_##name(void)                                                               \
    {                                                                                            \
        uint64_t at;                                                                             \
        unsigned before = traps;                                                                 \
        __asm__ volatile("adr %0, 1f\n1:\t" insn : "=r"(at) : : "memory");                      \
        printf("%-14s traps=%u esr=%08lx elr-at=%ld\n", #name, traps - before, last_esr,        \
               (long)(last_elr - at));                                                           \
        last_esr = 0xdead;                                                                       \
        last_elr = at + 0x1000;                                                                  \
    }

PROBE(zero_word, ".inst 0x00000000")
PROBE(udf_1234, "udf #0x1234")
PROBE(udf_ffff, "udf #0xffff")
PROBE(unallocated, ".inst 0xffffffff")
PROBE(sys_el2_reg, "mrs x0, hcr_el2")
PROBE(sys_el3_reg, "msr scr_el3, xzr")
PROBE(smc, "smc #0")
PROBE(hlt_1, "hlt #1")
PROBE(sve_add, ".inst 0x04200000") /* add z0.b, z0.b, z0.b */

int main(void)
{
    probe_zero_word();
    probe_udf_1234();
    probe_udf_ffff();
    probe_unallocated();
    probe_sys_el2_reg();
    probe_sys_el3_reg();
    probe_smc();
    probe_hlt_1();
    probe_sve_add();
    /* A run of traps back to back, and one inside a loop. */
    unsigned before = traps;
    __asm__ volatile("udf #1\n\tudf #2\n\tnop\n\tudf #3" ::: "memory");
    for (int i = 0; i < 100; i++)
        __asm__ volatile("udf #4" ::: "memory");
    printf("sequence: %u traps\n", traps - before);
    printf("total traps %u\n", traps);
    return 0;
}
