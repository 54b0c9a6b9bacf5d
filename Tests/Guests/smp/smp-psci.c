/* Starting and stopping secondary CPUs with PSCI (run with 4 CPUs): AFFINITY_INFO before, during
 * and after, CPU_ON one CPU at a time with each checking in (MPIDR.Aff0 and the context argument),
 * the error returns of CPU_ON and AFFINITY_INFO, CPU_OFF, and starting a CPU a second time.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "smp.h"

static volatile uint32_t release_cpus;
static volatile uint64_t seen_arg[SMP_MAX_CPUS];
static volatile uint32_t checked_in[SMP_MAX_CPUS];

/* Checks in (smp_secondary_main has recorded MPIDR and the context), then waits for CPU 0. */
static void check_in(unsigned cpu, void *arg)
{
    seen_arg[cpu] = (uint64_t)(uintptr_t)arg;
    store_release32(&checked_in[cpu], 1);
    SMP_WAIT_UNTIL(load_acquire32(&release_cpus));
}

static void report_check_in(unsigned cpu, uint64_t arg)
{
    SMP_WAIT_UNTIL(load_acquire32(&checked_in[cpu]));
    checked_in[cpu] = 0;
    struct smp_boot *b = &smp_boot_records[cpu];
    printf("cpu %u checked in: MPIDR.Aff0=%u context %s arg %s, AFFINITY_INFO -> %ld\n", cpu,
           b->mpidr_aff0, b->context_ok ? "ok" : "WRONG", seen_arg[cpu] == arg ? "ok" : "WRONG",
           psci_affinity_info(cpu, 0));
}

int main(void)
{
    int64_t version = psci_call(PSCI_VERSION, 0, 0, 0);
    printf("PSCI_VERSION -> %lx\n", version);
    printf("cpu 0: MPIDR.Aff0=%u, AFFINITY_INFO(0) -> %ld\n", smp_cpu_id(), psci_affinity_info(0, 0));

    for (unsigned cpu = 1; cpu < 4; cpu++)
        printf("before CPU_ON: AFFINITY_INFO(%u) -> %ld\n", cpu, psci_affinity_info(cpu, 0));

    /* One at a time, so that the check-in order is fixed. */
    for (unsigned cpu = 1; cpu < 4; cpu++) {
        uint64_t arg = 0x5ec0da7a00 + cpu;
        printf("CPU_ON(%u) -> %ld\n", cpu, smp_start(cpu, check_in, (void *)(uintptr_t)arg));
        report_check_in(cpu, arg);
    }

    /* Error returns; a CPU that is on never sees these requests. A target is MPIDR's affinity
     * fields only (PSCI: other bits must be zero), so bit 31 or a missing Aff1 is INVALID_PARAMETERS;
     * AFFINITY_INFO above level 0 reports ON, as QEMU does (one cluster, always on). */
    uint64_t entry = (uint64_t)(uintptr_t)smp_secondary_entry;
    printf("CPU_ON(1) again -> %ld\n", psci_cpu_on(1, entry, 0));
    printf("CPU_ON(0) (self) -> %ld\n", psci_cpu_on(0, entry, 0));
    printf("CPU_ON(4) (no such CPU) -> %ld\n", psci_cpu_on(4, entry, 0));
    printf("CPU_ON(0x80000001) -> %ld\n", psci_cpu_on(0x80000001, entry, 0));
    printf("CPU_ON(Aff1=1) -> %ld\n", psci_cpu_on(0x100, entry, 0));
    printf("AFFINITY_INFO(4) (no such CPU) -> %ld\n", psci_affinity_info(4, 0));
    printf("AFFINITY_INFO(Aff1=1) -> %ld\n", psci_affinity_info(0x101, 0));
    printf("AFFINITY_INFO(0x80000001) -> %ld\n", psci_affinity_info(0x80000001, 0));
    printf("AFFINITY_INFO(1, level 1) -> %ld\n", psci_affinity_info(1, 1));

    store_release32(&release_cpus, 1);
    for (unsigned cpu = 1; cpu < 4; cpu++) {
        smp_join(cpu);
        printf("cpu %u powered off: AFFINITY_INFO -> %ld\n", cpu, psci_affinity_info(cpu, 0));
    }

    /* A CPU that has been switched off starts again, at a new entry with a new context. */
    store_release32(&release_cpus, 0);
    printf("CPU_ON(2) after CPU_OFF -> %ld\n", smp_start(2, check_in, (void *)0xa11ce));
    report_check_in(2, 0xa11ce);
    store_release32(&release_cpus, 1);
    smp_join(2);
    printf("cpu 2 powered off again: AFFINITY_INFO -> %ld\n", psci_affinity_info(2, 0));
    return 0;
}
