/* System registers and PSTATE at EL1: CurrentEL, DAIF (reset value, DAIFSet/DAIFClr,
 * MSR DAIF), SPSel (running on SP_EL0 and back), NZCV, PAN, UAO, and write/read round trips of
 * TPIDR_EL0/EL1, TPIDRRO_EL0, SP_EL0, ELR_EL1, SPSR_EL1, FAR_EL1,
 * CONTEXTIDR_EL1, MAIR_EL1, FPCR and FPSR, plus barriers and hints that must simply execute, and the cache
 * geometry Cortex-A76 reports (CLIDR_EL1, and CCSIDR_EL1 for each cache CSSELR_EL1 selects).
 * Registers whose values legitimately differ between implementations (MIDR, MPIDR, ID
 * registers, counters, SCTLR's reset value) are not printed.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

static uint8_t spare_stack[1024] __attribute__((aligned(16)));

#define ROUND_TRIP(reg, value)                                                                   \
    do {                                                                                         \
        uint64_t saved_ = SYSREG_READ(reg);                                                      \
        SYSREG_WRITE(reg, value);                                                                \
        __asm__ volatile("isb");                                                                 \
        uint64_t got_ = SYSREG_READ(reg);                                                        \
        printf("%-15s wrote %016lx read %016lx\n", #reg, (uint64_t)(value), got_);             \
        SYSREG_WRITE(reg, saved_);                                                               \
        __asm__ volatile("isb");                                                                 \
    } while (0)

int main(void)
{
    printf("CurrentEL=%lu (EL%lu)\n", SYSREG_READ(currentel), SYSREG_READ(currentel) >> 2);
    printf("DAIF at entry=%03lx\n", SYSREG_READ(daif));
    __asm__ volatile("msr daifclr, #0xf");
    printf("after daifclr #15: %03lx\n", SYSREG_READ(daif));
    __asm__ volatile("msr daifset, #0x2");
    printf("after daifset #2:  %03lx\n", SYSREG_READ(daif));
    __asm__ volatile("msr daifset, #0x9");
    printf("after daifset #9:  %03lx\n", SYSREG_READ(daif));
    __asm__ volatile("msr daifclr, #0x8");
    printf("after daifclr #8:  %03lx\n", SYSREG_READ(daif));
    SYSREG_WRITE(daif, 0x1c0);
    printf("msr daif, 0x1c0:   %03lx\n", SYSREG_READ(daif));
    SYSREG_WRITE(daif, 0xffffffffffffffffULL);
    printf("msr daif, ~0:      %03lx\n", SYSREG_READ(daif));

    /* SPSel: switch to SP_EL0, use the stack there, switch back. */
    uint64_t spsel_on_sp0, sp_seen, spsel_after, popped;
    SYSREG_WRITE(sp_el0, (uint64_t)(spare_stack + sizeof(spare_stack)));
    __asm__ volatile("msr spsel, #0\n\t"
                     "mrs %0, spsel\n\t"
                     "mov %1, sp\n\t"
                     "mov x9, #0x77\n\t"
                     "str x9, [sp, #-16]!\n\t"
                     "ldr %3, [sp], #16\n\t"
                     "msr spsel, #1\n\t"
                     "mrs %2, spsel"
                     : "=&r"(spsel_on_sp0), "=&r"(sp_seen), "=&r"(spsel_after), "=&r"(popped)
                     : : "x9", "memory");
    printf("SPSel=0: spsel=%lu sp=spare_stack+%ld pushed/popped=%lx; back to SPSel=%lu, SP_EL0 now +%ld\n",
           spsel_on_sp0, (long)(sp_seen - (uintptr_t)spare_stack), popped, spsel_after,
           (long)(SYSREG_READ(sp_el0) - (uintptr_t)spare_stack));

    /* NZCV through MSR/MRS and through a compare. */
    for (uint64_t v = 0; v < 16; v += 5) {
        SYSREG_WRITE(nzcv, v << 28 | 0x0fffffff);
        printf("nzcv wrote %lx read %08lx\n", v, SYSREG_READ(nzcv));
    }
    uint64_t after_cmp;
    __asm__ volatile("cmp %1, %2\n\tmrs %0, nzcv" : "=r"(after_cmp) : "r"(OPAQUE(3UL)), "r"(OPAQUE(5UL)) : "cc");
    printf("cmp 3, 5 -> nzcv=%08lx\n", after_cmp);

    /* PAN and UAO (ARMv8.1, ARMv8.2; cortex-a76 has both), through their immediate forms. */
    uint64_t pan1, pan0, uao1, uao0;
    __asm__ volatile(".arch armv8.2-a\n\tmsr pan, #1\n\tmrs %0, pan\n\tmsr pan, #0\n\tmrs %1, pan\n\t"
                     "msr uao, #1\n\tmrs %2, uao\n\tmsr uao, #0\n\tmrs %3, uao\n\t.arch armv8-a"
                     : "=&r"(pan1), "=&r"(pan0), "=&r"(uao1), "=&r"(uao0));
    printf("PAN set=%lx clear=%lx  UAO set=%lx clear=%lx\n", pan1, pan0, uao1, uao0);

    ROUND_TRIP(tpidr_el0, 0x0123456789abcdefULL);
    ROUND_TRIP(tpidr_el1, 0xfedcba9876543210ULL);
    ROUND_TRIP(tpidrro_el0, 0x5555aaaa5555aaaaULL);
    ROUND_TRIP(sp_el0, 0x00000000deadbee0ULL);
    ROUND_TRIP(elr_el1, 0xffff000012345678ULL);
    ROUND_TRIP(spsr_el1, 0x00000000f00003c5ULL);
    ROUND_TRIP(far_el1, 0x1122334455667788ULL);
    ROUND_TRIP(contextidr_el1, 0x00000000abcdef01ULL);
    ROUND_TRIP(mair_el1, 0x44ff0400ee110c08ULL);
    ROUND_TRIP(fpcr, 0x0000000003c00000ULL);
    ROUND_TRIP(fpsr, 0x000000000800009fULL);
    /* VBAR_EL1 is left out: its bits 10:0 are RES0, but QEMU 7.2 keeps bits 10:5. */

    /* Cache identification: what Linux's cacheinfo reads. CSSELR_EL1 picks level and I/D; CCSIDR_EL1 follows. */
    printf("CLIDR_EL1=%016lx CTR_EL0=%016lx\n", SYSREG_READ(clidr_el1), SYSREG_READ(ctr_el0));
    uint64_t csselr_saved = SYSREG_READ(csselr_el1);
    static const uint64_t selections[] = {0, 1, 2};
    for (unsigned k = 0; k < sizeof selections / sizeof selections[0]; k++) {
        SYSREG_WRITE(csselr_el1, selections[k]);
        __asm__ volatile("isb");
        printf("CSSELR_EL1 wrote %lx read %lx: CCSIDR_EL1=%016lx\n", selections[k], SYSREG_READ(csselr_el1),
               SYSREG_READ(ccsidr_el1));
    }
    SYSREG_WRITE(csselr_el1, 0xffffffffffffffffULL);
    __asm__ volatile("isb");
    printf("CSSELR_EL1 wrote ~0 read %lx\n", SYSREG_READ(csselr_el1));
    SYSREG_WRITE(csselr_el1, csselr_saved);

    /* Barriers and hints: all must execute as (near) no-ops. */
    __asm__ volatile("dmb ish\n\tdmb oshld\n\tdmb sy\n\tdsb sy\n\tdsb ishst\n\tisb\n\t"
                     "nop\n\tyield\n\tsevl\n\twfe\n\tsev\n\tesb\n\tcsdb\n\thint #34\n\thint #0x7f\n\t"
                     "prfm pldl1keep, [sp]\n\tprfm pstl2strm, [sp, #64]\n\tssbb\n\tpssbb" ::: "memory");
    printf("barriers and hints executed\n");
    return 0;
}
