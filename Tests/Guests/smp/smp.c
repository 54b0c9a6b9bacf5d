/* Multi-core support for emud's SMP guest programs (see smp.h).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smp.h"

struct smp_boot smp_boot_records[SMP_MAX_CPUS];

/* One stack per secondary; CPU 0 keeps the boot stack at the top of RAM (rt/start.S). */
static uint8_t smp_stacks[SMP_MAX_CPUS][SMP_STACK_SIZE] __attribute__((aligned(16)));

int64_t psci_call(uint64_t function, uint64_t a1, uint64_t a2, uint64_t a3)
{
    register uint64_t x0 __asm__("x0") = function;
    register uint64_t x1 __asm__("x1") = a1;
    register uint64_t x2 __asm__("x2") = a2;
    register uint64_t x3 __asm__("x3") = a3;
    __asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : : "memory");
    return (int64_t)x0;
}

#define GICD 0x08000000UL
#define GICC 0x08010000UL
#define GIC_REG(base, off) (*(volatile uint32_t *)((base) + (off)))
#define VTIMER_PPI 27

void smp_cpu_init(void)
{
    /* PPI enables and priorities are banked per CPU; the distributor enable is shared. */
    GIC_REG(GICD, 0x400 + VTIMER_PPI) = 0xa0;   /* GICD_IPRIORITYR, byte access */
    GIC_REG(GICD, 0x100) = 1u << VTIMER_PPI;    /* GICD_ISENABLER0 */
    GIC_REG(GICD, 0x000) = 1;                   /* GICD_CTLR */
    GIC_REG(GICC, 0x004) = 0xf0;                /* GICC_PMR */
    GIC_REG(GICC, 0x000) = 1;                   /* GICC_CTLR */
    SYSREG_WRITE(cntv_ctl_el0, 0);
    __asm__ volatile("isb");
}

void smp_nap(unsigned us)
{
    uint64_t ticks = SYSREG_READ(cntfrq_el0) / 1000000 * us;
    SYSREG_WRITE(cntv_tval_el0, ticks ? ticks : 1);
    SYSREG_WRITE(cntv_ctl_el0, 1); /* enabled, not masked: the GIC raises the IRQ line */
    __asm__ volatile("isb\n\twfi" : : : "memory");
    /* Disabling the timer lowers its level-triggered interrupt again. */
    SYSREG_WRITE(cntv_ctl_el0, 0);
    __asm__ volatile("isb");
}

/* Called by secondary.S on the new CPU's own stack. */
NORETURN void smp_secondary_main(struct smp_boot *boot);
void smp_secondary_main(struct smp_boot *boot)
{
    unsigned cpu = smp_cpu_id();
    smp_cpu_init();
    boot->mpidr_aff0 = cpu;
    boot->context_ok = boot == &smp_boot_records[boot->cpu];
    boot->fn(boot->cpu, boot->arg);
    store_release32(&boot->finished, 1);
    psci_call(PSCI_CPU_OFF, 0, 0, 0);
    /* CPU_OFF does not return on success. */
    for (;;)
        __asm__ volatile("wfi");
}

int64_t smp_start(unsigned cpu, smp_entry_fn fn, void *arg)
{
    if (cpu == 0 || cpu >= SMP_MAX_CPUS)
        return PSCI_INVALID_PARAMETERS;
    static int initialised;
    if (!initialised) {
        smp_cpu_init();
        initialised = 1;
    }
    struct smp_boot *boot = &smp_boot_records[cpu];
    boot->stack_top = (uint64_t)(uintptr_t)&smp_stacks[cpu][SMP_STACK_SIZE];
    boot->fn = fn;
    boot->arg = arg;
    boot->cpu = cpu;
    boot->finished = 0;
    boot->context_ok = 0;
    boot->mpidr_aff0 = ~0u;
    DMB_ISH();
    return psci_cpu_on(cpu, (uint64_t)(uintptr_t)smp_secondary_entry, (uint64_t)(uintptr_t)boot);
}

unsigned smp_count_cpus(void)
{
    unsigned cpus = 1;
    while (cpus < SMP_MAX_CPUS && psci_affinity_info(cpus, 0) != PSCI_INVALID_PARAMETERS)
        cpus++;
    return cpus;
}

unsigned smp_start_all_with_barrier(struct smp_barrier *b, smp_entry_fn fn, void *arg)
{
    unsigned cpus = smp_count_cpus();
    smp_barrier_init(b, cpus);
    if (smp_start_all(fn, arg) != cpus)
        fail("CPU_ON started a different number of CPUs than AFFINITY_INFO reported");
    return cpus;
}

unsigned smp_start_all(smp_entry_fn fn, void *arg)
{
    unsigned cpus = 1;
    for (unsigned cpu = 1; cpu < SMP_MAX_CPUS; cpu++) {
        int64_t r = smp_start(cpu, fn, arg);
        if (r == PSCI_INVALID_PARAMETERS)
            break;
        if (r != PSCI_SUCCESS) {
            printf("FAIL: CPU_ON(%u) returned %ld\n", cpu, r);
            exit(1);
        }
        cpus++;
    }
    return cpus;
}

void smp_join(unsigned cpu)
{
    SMP_WAIT_UNTIL(load_acquire32(&smp_boot_records[cpu].finished));
    /* The secondary is on its way into CPU_OFF; PSCI may still report it ON for a moment. */
    SMP_WAIT_UNTIL(psci_affinity_info(cpu, 0) == PSCI_AFFINITY_OFF);
}

void smp_join_all(unsigned cpus)
{
    for (unsigned cpu = 1; cpu < cpus; cpu++)
        smp_join(cpu);
}

void smp_barrier_init(struct smp_barrier *b, uint32_t count)
{
    b->arrived = 0;
    b->sense = 0;
    b->count = count;
    DMB_ISH();
}

void smp_barrier_wait(struct smp_barrier *b)
{
    uint32_t sense = load_acquire32(&b->sense);
    if (__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL) == b->count) {
        b->arrived = 0;
        store_release32(&b->sense, !sense);
        return;
    }
    SMP_WAIT_UNTIL(load_acquire32(&b->sense) != sense);
}
