/* Interrupts through the GICv2 on QEMU's virt board: the EL1 virtual timer (PPI 27) fires
 * N times, each IRQ acknowledged through GICC_IAR and completed through GICC_EOIR; then
 * software-generated interrupts (SGIs) sent to this CPU through GICD_SGIR.
 * Only counts and interrupt IDs are printed, never times.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

#define GICD 0x08000000UL
#define GICC 0x08010000UL
#define REG(base, off) (*(volatile uint32_t *)((base) + (off)))
#define GICD_CTLR REG(GICD, 0x000)
#define GICD_ISENABLER(n) REG(GICD, 0x100 + 4 * (n))
#define GICD_ICENABLER(n) REG(GICD, 0x180 + 4 * (n))
#define GICD_ICPENDR(n) REG(GICD, 0x280 + 4 * (n))
#define GICD_IPRIORITYR(n) REG(GICD, 0x400 + 4 * (n))
#define GICD_SGIR REG(GICD, 0xf00)
#define GICC_CTLR REG(GICC, 0x00)
#define GICC_PMR REG(GICC, 0x04)
#define GICC_IAR REG(GICC, 0x0c)
#define GICC_EOIR REG(GICC, 0x10)

#define VTIMER_PPI 27
#define TICKS 5

static volatile unsigned ticks, sgis, spurious, other;
static volatile unsigned sgi_log[8];
static volatile uint64_t istatus_seen;

int handle_irq(struct frame *f)
{
    (void)f;
    uint32_t iar = GICC_IAR;
    uint32_t id = iar & 0x3ff;
    if (id == 1023) {
        spurious++;
        return 1;
    }
    if (id == VTIMER_PPI) {
        istatus_seen |= SYSREG_READ(cntv_ctl_el0) & 4;
        ticks++;
        if (ticks < TICKS)
            SYSREG_WRITE(cntv_tval_el0, 20000); /* next tick in 20000 counter ticks */
        else
            SYSREG_WRITE(cntv_ctl_el0, 0);      /* stop the timer */
        __asm__ volatile("isb");
    } else if (id < 16) {
        if (sgis < ARRAY_SIZE(sgi_log))
            sgi_log[sgis] = iar; /* includes the source CPU in bits 12:10 */
        sgis++;
    } else {
        other++;
    }
    GICC_EOIR = iar;
    return 1;
}

/* Waits for an interrupt with IRQs masked, so a wake-up cannot slip in between the check and
 * the WFI; then lets it be taken. */
static void wait_for(volatile unsigned *counter, unsigned target)
{
    while (*counter < target) {
        __asm__ volatile("wfi");
        __asm__ volatile("msr daifclr, #2\n\tisb\n\tmsr daifset, #2" ::: "memory");
    }
}

int main(void)
{
    __asm__ volatile("msr daifset, #2");
    GICD_CTLR = 0;
    GICD_IPRIORITYR(VTIMER_PPI / 4) = 0xa0a0a0a0;
    for (int n = 0; n < 4; n++)
        GICD_IPRIORITYR(n) = 0x80808080; /* SGIs 0..15 */
    GICD_ICPENDR(0) = 0xffffffff;
    GICD_ISENABLER(0) = 1u << VTIMER_PPI | 0xffff;
    GICD_CTLR = 1;
    GICC_PMR = 0xf0;
    GICC_CTLR = 1;

    printf("timer: arming CNTV for %d ticks\n", TICKS);
    uint64_t start = SYSREG_READ(cntvct_el0);
    SYSREG_WRITE(cntv_tval_el0, 20000);
    SYSREG_WRITE(cntv_ctl_el0, 1); /* enable, not masked */
    __asm__ volatile("isb");
    wait_for(&ticks, TICKS);
    uint64_t end = SYSREG_READ(cntvct_el0);
    printf("ticks=%u istatus-seen=%s counter-advanced=%s ctl-after=%lu\n", ticks,
           istatus_seen ? "yes" : "no", end - start >= TICKS * 20000ULL ? "yes" : "no",
           SYSREG_READ(cntv_ctl_el0));

    /* A masked timer condition stays pending in CNTV_CTL but raises no interrupt. */
    SYSREG_WRITE(cntv_tval_el0, 10);
    SYSREG_WRITE(cntv_ctl_el0, 3); /* enabled, IMASK */
    __asm__ volatile("isb");
    while (!(SYSREG_READ(cntv_ctl_el0) & 4))
        ;
    __asm__ volatile("msr daifclr, #2\n\tisb\n\tnop\n\tnop\n\tmsr daifset, #2" ::: "memory");
    printf("masked timer: ISTATUS=%lu ticks=%u\n", SYSREG_READ(cntv_ctl_el0) >> 2 & 1, ticks);
    SYSREG_WRITE(cntv_ctl_el0, 0);

    /* SGIs: TargetListFilter = 0b10 (this CPU only), IDs 3, 7, 15. */
    static const unsigned ids[] = { 3, 7, 15 };
    for (unsigned i = 0; i < ARRAY_SIZE(ids); i++) {
        GICD_SGIR = 2u << 24 | ids[i];
        wait_for(&sgis, i + 1);
    }
    printf("sgis=%u:", sgis);
    for (unsigned i = 0; i < sgis && i < ARRAY_SIZE(sgi_log); i++)
        printf(" iar=%x", sgi_log[i]);
    printf("\n");

    /* Nothing pending now: the CPU interface answers 1023. */
    uint32_t idle = GICC_IAR & 0x3ff;
    printf("idle IAR=%u spurious=%u other=%u\n", idle, spurious, other);

    /* Disabled at the distributor, the timer interrupt never arrives. */
    GICD_ICENABLER(0) = 1u << VTIMER_PPI;
    SYSREG_WRITE(cntv_tval_el0, 10);
    SYSREG_WRITE(cntv_ctl_el0, 1);
    __asm__ volatile("isb");
    while (!(SYSREG_READ(cntv_ctl_el0) & 4))
        ;
    __asm__ volatile("msr daifclr, #2\n\tisb\n\tnop\n\tnop\n\tmsr daifset, #2" ::: "memory");
    SYSREG_WRITE(cntv_ctl_el0, 0);
    printf("disabled PPI: ticks=%u\n", ticks);
    return 0;
}
