/* CPUs that are idle and CPUs that spin, until the host says stop: for emud's test that an
 * exclusive section stops vCPUs in WFI as well as vCPUs in a tight loop. Not compared with QEMU,
 * which has no way to say stop.
 *
 * The last CPU spins in a two-instruction loop that never touches memory; the other secondaries
 * sleep in WFI with nothing that could wake them (interrupts masked, no timer armed); CPU 0
 * waits for `host_stop` with SMP_WAIT_UNTIL (spinning, then napping in WFI with the timer).
 * Once every secondary is in place CPU 0 sets `idle_ready`. Both are found through the ELF
 * symbol table.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smp.h"

volatile uint64_t host_stop __attribute__((section(".data"))) = 0;
volatile uint64_t idle_ready;

static volatile uint32_t in_place[SMP_MAX_CPUS];

static NORETURN void sleep_forever(void)
{
    __asm__ volatile("msr daifset, #0xf\n\t"
                     "1: wfi\n\t"
                     "b 1b");
    __builtin_unreachable();
}

static NORETURN void spin_forever(void)
{
    __asm__ volatile("mov x9, #0\n\t"
                     "1: add x9, x9, #1\n\t"
                     "b 1b" : : : "x9");
    __builtin_unreachable();
}

static void place(unsigned cpu, void *arg)
{
    unsigned cpus = (unsigned)(uintptr_t)arg;
    store_release32(&in_place[cpu], 1);
    if (cpu == cpus - 1)
        spin_forever();
    sleep_forever();
}

int main(void)
{
    unsigned cpus = smp_count_cpus();
    smp_start_all(place, (void *)(uintptr_t)cpus);
    for (unsigned cpu = 1; cpu < cpus; cpu++)
        SMP_WAIT_UNTIL(load_acquire32(&in_place[cpu]));
    store_release64(&idle_ready, 1);
    SMP_WAIT_UNTIL(host_stop);
    printf("smp-idle: %u CPUs; %u asleep in WFI, %u spinning; stopped by the host\n", cpus,
           cpus > 2 ? cpus - 2 : 0, cpus > 1 ? 1 : 0);
    return 0;
}
