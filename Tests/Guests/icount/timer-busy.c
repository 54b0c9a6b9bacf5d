/* The virtual timer interrupting a CPU that computes (not one that waits in WFI): each of TICKS
 * interrupts records the counter and the interrupted PC, and the computation's result depends on how
 * far it got. Under host time these differ from run to run; under `emud run --icount N` every run
 * prints the same lines (Tests/IntegrationTests/DeterministicClockTests.swift). Not compared with
 * QEMU, and not in PROGRAMS: it prints counter values, which the rules for those programs forbid.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#define GICD 0x08000000UL
#define GICC 0x08010000UL
#define REG(base, off) (*(volatile uint32_t *)((base) + (off)))
#define GICD_CTLR REG(GICD, 0x000)
#define GICD_ISENABLER(n) REG(GICD, 0x100 + 4 * (n))
#define GICD_ICPENDR(n) REG(GICD, 0x280 + 4 * (n))
#define GICD_IPRIORITYR(n) REG(GICD, 0x400 + 4 * (n))
#define GICC_CTLR REG(GICC, 0x00)
#define GICC_PMR REG(GICC, 0x04)
#define GICC_IAR REG(GICC, 0x0c)
#define GICC_EOIR REG(GICC, 0x10)

#define VTIMER_PPI 27
#define TICKS 8
#define PERIOD 3000 /* counter ticks between interrupts */

static volatile unsigned ticks;
static volatile uint64_t arrival[TICKS], where[TICKS];

int handle_irq(struct frame *f)
{
    uint32_t iar = GICC_IAR;
    if ((iar & 0x3ff) == VTIMER_PPI) {
        if (ticks < TICKS) {
            arrival[ticks] = SYSREG_READ(cntvct_el0);
            where[ticks] = f->elr;
        }
        ticks++;
        if (ticks < TICKS)
            SYSREG_WRITE(cntv_tval_el0, PERIOD);
        else
            SYSREG_WRITE(cntv_ctl_el0, 0);
        __asm__ volatile("isb");
    }
    if ((iar & 0x3ff) != 1023)
        GICC_EOIR = iar;
    return 1;
}

int main(void)
{
    __asm__ volatile("msr daifset, #2");
    GICD_CTLR = 0;
    GICD_IPRIORITYR(VTIMER_PPI / 4) = 0xa0a0a0a0;
    GICD_ICPENDR(0) = 0xffffffff;
    GICD_ISENABLER(0) = 1u << VTIMER_PPI;
    GICD_CTLR = 1;
    GICC_PMR = 0xf0;
    GICC_CTLR = 1;

    uint64_t start = SYSREG_READ(cntvct_el0);
    SYSREG_WRITE(cntv_tval_el0, PERIOD);
    SYSREG_WRITE(cntv_ctl_el0, 1);
    __asm__ volatile("isb\n\tmsr daifclr, #2" ::: "memory");
    uint64_t x = 1, rounds = 0;
    while (ticks < TICKS) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        rounds++;
    }
    __asm__ volatile("msr daifset, #2" ::: "memory");
    for (unsigned i = 0; i < TICKS; i++)
        printf("tick %u: counter +%lu at pc %lx\n", i, arrival[i] - start, where[i]);
    printf("rounds=%lu x=%lx\n", rounds, x);
    return 0;
}
